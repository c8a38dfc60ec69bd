import type * as Ssh2 from 'ssh2';
import { AuditEvents, type Auditor } from '../../audit/index.js';
import type { Logger } from '../../log.js';
import type { SessionRecord, Store, UserRecord } from '../../store/index.js';
import { followShipped } from './shipped-follower.js';
import { refuseChannel, type Identity } from '../session/index.js';
import type { JoinMode, LiveSessions, Viewer } from './live-sessions.js';

/** Bytes queued to one viewer's channel past which it is dropped: a slow observer never slows the session. */
export const VIEWER_BUFFER_BYTES = 4 * 1024 * 1024;

export interface JoinRequest {
  id: string;
  mode: JoinMode;
}

export interface JoinDeps {
  live: LiveSessions;
  auditor: Auditor;
  log: Logger;
  lookupUser(name: string): Promise<UserRecord | undefined>;
  /** Revoked, expired or user-locked certificates join nothing (session/authorize.ts identityRefusal). */
  checkIdentity?(who: Identity): Promise<string | undefined>;
  /** Sessions other daemons relay (shared PostgreSQL): found in the session index, followed through their shipped recording. */
  remote?: { find(id: string): Promise<SessionRecord | undefined>; store: Pick<Store, 'readRecordingChunks' | 'getSession'> };
}

/**
 * Who may join which session, one pure rule: anyone may observe and peer-join their own sessions;
 * the `auditor` role may observe everyone's; nobody may type into another user's session (a peer
 * is someone acting as the session's login on the node, so only its own user is, by default).
 * Returns the refusal, or undefined when allowed.
 */
export function joinRefusal(user: UserRecord | undefined, owner: string, mode: JoinMode): string | undefined {
  if (!user) return 'your user no longer exists';
  if (owner === user.name) return undefined;
  if (mode === 'peer') return `session belongs to ${owner}; only its own user may join it as a peer`;
  if (user.roles.includes('auditor')) return undefined;
  return `session belongs to ${owner}; only auditors may observe other users' sessions`;
}

/**
 * `tsh join` on the proxy's SSH port: a session channel that named a running session
 * (TOLLGATE_JOIN) instead of a node. The user is the one the channel's certificate proved; the
 * access rule is joinRefusal(); every join, leave and refusal is audited.
 */
export async function serveJoin(channel: Ssh2.ServerChannel, who: Identity, req: JoinRequest, deps: JoinDeps): Promise<void> {
  const log = deps.log.child({ component: 'live', user: who.user, sid: req.id });
  // A connection can outlive its certificate, a reset or a lock: checked for every join.
  const revoked = await deps.checkIdentity?.(who);
  if (revoked) {
    await deps.auditor.record(AuditEvents.sessionAccessDenied, who.user, { what: `join session ${req.id} as ${req.mode}`, sid: req.id, addr: who.clientAddr, reason: revoked });
    refuseChannel(channel, `tollgate: access denied: ${revoked}`);
    return;
  }
  const session = deps.live.get(req.id);
  if (!session) {
    const remote = await deps.remote?.find(req.id);
    if (remote) return serveRemoteJoin(channel, who, req, remote, deps);
    refuseChannel(channel, `tollgate: no active session ${req.id} (see tsh sessions ls)`);
    return;
  }
  const owner = session.info.user;
  const refusal = joinRefusal(await deps.lookupUser(who.user), owner, req.mode);
  if (refusal) {
    await deps.auditor.record(AuditEvents.sessionAccessDenied, who.user, { what: `join session ${req.id} as ${req.mode}`, sid: req.id, owner, addr: who.clientAddr, reason: refusal });
    refuseChannel(channel, `tollgate: access denied: ${refusal}`);
    return;
  }

  let gone = false;
  const write = (data: string | Buffer) => {
    if (gone || channel.destroyed) return;
    channel.write(data);
    // Dropped rather than waited for: its SSH window is full and the backlog past the bound.
    if (channel.writableLength > VIEWER_BUFFER_BYTES) viewer.end(`tollgate: you fell behind the session's output and were disconnected; join again to catch up`);
  };
  const viewer: Viewer = {
    user: who.user,
    mode: req.mode,
    paint: (p) => write(`\u001b[H\u001b[2J${p.paint}`),
    event: (e) => {
      if (e.type === 'output') write(e.data);
      // The session's terminal changed size; the viewer's own terminal keeps its size (SSH cannot
      // resize a client's window), so it is told in the status line of xterm-like terminals.
      else if (e.type === 'resize') write(`\u001b]2;tollgate: session is ${e.cols}x${e.rows}\u0007`);
    },
    status: (line) => write(`\r\n[tollgate] ${line}\r\n`),
    end: (line) => {
      if (gone) return;
      gone = true;
      attached?.detach();
      refuseChannel(channel, `\r\n${line}`, 0);
    },
  };
  let attached: { detach(): void } | undefined;
  const r = await session.attach(viewer);
  if (typeof r === 'string') {
    refuseChannel(channel, `tollgate: cannot join: ${r}`);
    return;
  }
  attached = r;
  const fields = { sid: req.id, owner, mode: req.mode, addr: who.clientAddr };
  await deps.auditor.record(AuditEvents.sessionJoin, who.user, fields).catch((err: Error) => log.error('cannot write an audit event', { event: AuditEvents.sessionJoin, error: err.message }));
  log.info('joined a session', { mode: req.mode, owner });
  channel.on('data', (data: Buffer) => r.input(data));
  channel.on('error', () => undefined);
  channel.once('close', () => {
    gone = true;
    r.detach();
    deps.auditor.emit(AuditEvents.sessionLeave, who.user, fields);
    log.info('left a session', { mode: req.mode, owner });
  });
}

/**
 * A join through this daemon to a session another daemon relays: observers only (a peer's keys
 * must enter the relay, which is on the other daemon), painted and fed from the recording that
 * daemon ships to the shared store (followShipped: at most about 2 s behind).
 */
async function serveRemoteJoin(channel: Ssh2.ServerChannel, who: Identity, req: JoinRequest, s: SessionRecord, deps: JoinDeps): Promise<void> {
  const refusal = req.mode === 'peer' ? `session ${req.id} runs on another proxy; join it as a peer through that proxy` : joinRefusal(await deps.lookupUser(who.user), s.user, req.mode);
  if (refusal) {
    await deps.auditor.record(AuditEvents.sessionAccessDenied, who.user, { what: `join session ${req.id} as ${req.mode}`, sid: req.id, owner: s.user, addr: who.clientAddr, reason: refusal });
    refuseChannel(channel, `tollgate: access denied: ${refusal}`);
    return;
  }
  const fields = { sid: req.id, owner: s.user, mode: req.mode, addr: who.clientAddr, via: 'shared store' };
  await deps.auditor.record(AuditEvents.sessionJoin, who.user, fields);
  let gone = false;
  const write = (data: string) => {
    if (gone || channel.destroyed) return;
    channel.write(data);
    if (channel.writableLength > VIEWER_BUFFER_BYTES) finish(`tollgate: you fell behind the session's output and were disconnected; join again to catch up`);
  };
  const finish = (line: string) => {
    if (gone) return;
    gone = true;
    follower.stop();
    refuseChannel(channel, `\r\n${line}`, 0);
  };
  const follower = followShipped(deps.remote!.store, s, {
    paint: (p) => write(`\u001b[H\u001b[2J${p.paint}`),
    output: (text) => write(text),
    resize: (cols, rows) => write(`\u001b]2;tollgate: session is ${cols}x${rows}\u0007`),
    end: (reason) => finish(reason.startsWith('ended by') ? `tollgate: the session was ${reason}` : `tollgate: the session ended (${reason})`),
  });
  // Keys from an observer are read and dropped: nothing goes back to the session.
  channel.on('data', () => undefined);
  channel.on('error', () => undefined);
  channel.once('close', () => {
    gone = true;
    follower.stop();
    deps.auditor.emit(AuditEvents.sessionLeave, who.user, fields);
  });
}
