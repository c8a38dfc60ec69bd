import crypto from 'node:crypto';
import { AuditEvents, type Auditor } from '../../audit/index.js';
import type { SessionEnd, SessionMeta } from '../../recording/index.js';
import type { SessionRecorder, SessionRecording } from './recorder-tap.js';

/**
 * `auth_service.session_recording: off`: sessions are relayed and audited but not recorded. No
 * `.cast` and no session index row (the index lists recordings); `session.start`, `exec` and
 * `session.end` (with exact byte counts and SHA-256 of each direction) still go to the audit
 * log, written before the session starts and before the client learns its exit status, as with
 * recording on. Nothing here can fall behind, so it never pauses the relay.
 */
export class UnrecordedSessions implements SessionRecorder {
  constructor(private readonly o: { auditor: Auditor }) {}

  async start(meta: SessionMeta): Promise<SessionRecording> {
    const id = meta.id ?? crypto.randomUUID();
    const { auditor } = this.o;
    await auditor.record(AuditEvents.sessionStart, meta.user, {
      sid: id,
      login: meta.login,
      node: meta.node,
      addr: meta.clientAddr,
      kind: meta.kind,
      pty: meta.pty,
      recorded: false,
      ...(meta.upstreamAuth ? { upstream_auth: meta.upstreamAuth } : {}),
      ...(meta.client ? { client: meta.client } : {}),
    });
    if (meta.command !== null) await auditor.record(AuditEvents.exec, meta.user, { sid: id, login: meta.login, node: meta.node, command: meta.command });
    const out = { bytes: 0, hash: crypto.createHash('sha256') };
    const inp = { bytes: 0, hash: crypto.createHash('sha256') };
    let ended = false;
    return {
      id,
      meta,
      // sftp file operations still go to the audit log (the recorder tap writes them there).
      marker: () => undefined,
      output(data) {
        out.bytes += data.length;
        out.hash.update(data);
        return true;
      },
      input(data) {
        inp.bytes += data.length;
        inp.hash.update(data);
        return true;
      },
      onceDrained: (cb) => cb(),
      resize: (cols, rows) => auditor.emit(AuditEvents.resize, meta.user, { sid: id, size: `${cols}:${rows}` }),
      onFailure: () => undefined,
      async end(e: SessionEnd) {
        if (ended) return;
        ended = true;
        await auditor.record(AuditEvents.sessionEnd, meta.user, {
          sid: id,
          login: meta.login,
          node: meta.node,
          exit_status: e.exitStatus,
          exit_signal: e.exitSignal ?? undefined,
          reason: e.reason,
          bytes_in: inp.bytes,
          bytes_out: out.bytes,
          sha256_in: inp.hash.digest('hex'),
          sha256_out: out.hash.digest('hex'),
          recorded: false,
        });
      },
    };
  }
}
