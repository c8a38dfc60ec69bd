import crypto from 'node:crypto';
import fs from 'node:fs';
import { AuditEvents, type Auditor } from '../audit/index.js';
import type { Clock } from '../clock.js';
import { unavailable } from '../errors.js';
import { writeFileAtomic } from '../fs/index.js';
import type { SessionRecord, Store } from '../store/index.js';
import { fingerprint } from '../ca/index.js';
import type { Logger } from '../log.js';
import type { WriterTotals } from './asciicast-writer.js';
import { type CastWriter, inThreadWriters, type WriterPool } from './writer-pool.js';
import { type Checkpoint, sigPath, type RecordingSigner } from './integrity.js';
import { anchorFields } from './anchors.js';
import { closeInterruptedRecording } from './recover.js';
import type { RecordingStorage } from './storage.js';
import { isUuid } from '../ids.js';

/** Where the data dir keeps recordings (the local-dir storage, the embedded default). */
export const RECORDINGS_DIR = 'recordings';


/**
 * `session.start` (and `exec` for a command), as every session writes them before it starts,
 * recorded or not (`recorded: false` with session_recording: off).
 */
export async function auditSessionStart(auditor: Auditor, id: string, meta: SessionMeta, recorded: boolean): Promise<void> {
  await auditor.record(AuditEvents.sessionStart, meta.user, {
    sid: id,
    login: meta.login,
    node: meta.node,
    addr: meta.clientAddr,
    kind: meta.kind,
    pty: meta.pty,
    ...(recorded ? {} : { recorded: false }),
    ...(meta.upstreamAuth ? { upstream_auth: meta.upstreamAuth } : {}),
    ...(meta.client ? { client: meta.client } : {}),
  });
  if (meta.command !== null) await auditor.record(AuditEvents.exec, meta.user, { sid: id, login: meta.login, node: meta.node, command: meta.command });
}

/** What a recording starts from: the session index row's identity fields, and the terminal. */
export type SessionMeta = Pick<SessionRecord, 'user' | 'login' | 'node' | 'clientAddr' | 'kind' | 'command' | 'pty'> & {
  cols: number;
  rows: number;
  term?: string;
  /** Chosen by the caller when something made before the recording names the session (a per-session certificate). */
  id?: string;
  /** How the proxy logs in to the node, for session.start: a certificate it minted, or the user's forwarded agent. */
  upstreamAuth?: 'session-cert' | 'forwarded-agent';
  /** The kind of client when it is not an SSH client (`web`: the browser's terminal), for the audit log. */
  client?: 'web';
};

export interface RecordingServiceOptions {
  store: Store;
  /** Where recordings are written (the local dir or spool, created 0700) and read from. */
  storage: RecordingStorage;
  /** This daemon's id in the session index (only it closes its own sessions after a crash). */
  serverId: string;
  auditor: Auditor;
  clock: Clock;
  maxExecRecordingSize: number;
  /** Record PTY keystrokes too (non-PTY shell/exec input is always recorded). */
  recordInput: boolean;
  /** The cluster's recording key: signed checkpoints while a session runs, a detached SSHSIG when it ends. */
  signer?: RecordingSigner;
  /** Told of each write that reached a recording file: bytes, and the time it waited (metrics). */
  onWritten?: (bytes: number, lagMs: number) => void;
  /** How often a running recording gets a signed checkpoint (at most 5 s: a crash loses at most that much evidence). */
  checkpointIntervalMs?: number;
  /** Where the per-byte work of recording runs (the daemon's worker threads); default this thread. */
  writers?: WriterPool;
  log?: Logger;
}

export interface SessionEnd {
  exitStatus: number | null;
  exitSignal: string | null;
  reason: string;
}

/**
 * The recording asks for its session to end without having failed (it reached
 * `max_exec_recording_size`): `clientLine` is what the client is told; the recording is complete
 * and signed as usual.
 */
export class RecordingStopped extends Error {
  constructor(
    readonly reason: string,
    readonly clientLine: string,
  ) {
    super(reason);
  }
}

/** 1048576 → "1 MiB"; sizes that are not whole binary units stay in bytes. */
function formatSize(n: number): string {
  for (const [unit, size] of [['GiB', 1024 ** 3], ['MiB', 1024 ** 2], ['KiB', 1024]] as const) if (n >= size && n % size === 0) return `${n / size} ${unit}`;
  return `${n} bytes`;
}

/** One session channel being recorded: feed it the streams, then end it exactly once. */
export class ActiveRecording {
  private ended = false;
  private failureListener: ((err: Error) => void) | undefined;
  private failure: Error | undefined;
  private stopped: RecordingStopped | undefined;

  constructor(
    readonly id: string,
    readonly meta: SessionMeta,
    private readonly writer: CastWriter,
    private readonly o: RecordingServiceOptions,
    private readonly service: RecordingService,
  ) {}

  /** False when the recording's disk writes are behind: pause the source until onceDrained(). */
  /** `at`: when the relay passed the bytes (epoch ms), so every view of the session has one time for them. */
  output(data: Buffer, at?: number): boolean {
    return this.writer.output(data, at);
  }

  input(data: Buffer, at?: number): boolean {
    return this.writer.input(data, at);
  }

  onceDrained(cb: () => void): void {
    this.writer.onceDrained(cb);
  }

  resize(cols: number, rows: number, at?: number): void {
    this.writer.resize(cols, rows, at);
    this.o.auditor.emit(AuditEvents.resize, this.meta.user, { sid: this.id, size: `${cols}:${rows}` });
  }

  /** A marker event in the recording (asciicast "m"): a label at this point of the session. */
  marker(label: string, at?: number): void {
    this.writer.marker(label, at);
  }

  /**
   * Called (once) when the session must end for the recording's sake: it can no longer be
   * written, or (a `RecordingStopped`) it reached its size limit.
   */
  onFailure(cb: (err: Error) => void): void {
    this.failureListener = cb;
    const err = this.failure ?? this.stopped;
    if (err) cb(err);
  }

  /**
   * @internal the writer reports a non-PTY exec past max_exec_recording_size. The session is
   * ended on the next microtask (not inside the relay's tap write); whatever arrives until then
   * is recorded too.
   */
  limitReached(limit: number): void {
    if (this.stopped || this.failure) return;
    const size = formatSize(limit);
    this.stopped = new RecordingStopped(
      `recording reached max_exec_recording_size (${size})`,
      `tollgate: the recording reached max_exec_recording_size (${size}); recording is mandatory, so the session ends`,
    );
    this.o.auditor.emit(AuditEvents.sessionRecordingLimit, this.meta.user, { sid: this.id, login: this.meta.login, node: this.meta.node, limit });
    const err = this.stopped;
    queueMicrotask(() => this.failureListener?.(err));
  }

  /** @internal the writer reports its first write error here. */
  fail(err: Error): void {
    this.failure ??= err;
    this.failureListener?.(err);
  }

  get file(): string {
    return this.writer.file;
  }

  /** Time 0 of the recording's events (epoch ms, the writer's clock), so a tap's offsets match the `.cast`. */
  get startedAtMs(): number {
    return this.writer.startTime;
  }

  /**
   * The writer is gone before it could seal (its worker thread died): the recording is closed as
   * a crash recovery would close it, signed `interrupted` as far as its last checkpoint, so the
   * session's index row (which recovery never revisits once ended) names a verifiable prefix.
   */
  private async closeLost(err: Error): Promise<WriterTotals> {
    this.failure ??= err;
    this.o.log?.error('cannot complete the recording; it is closed as interrupted at its last checkpoint', { component: 'recording', sid: this.id, error: err.message });
    const given = this.writer.given();
    const lost: WriterTotals = { out: { bytes: given.out, sha256: '' }, in: { bytes: given.in, sha256: '' }, file: { bytes: 0, sha256: undefined }, sealed: undefined };
    if (!this.o.signer) return lost;
    try {
      const r = await closeInterruptedRecording(this.writer.file, this.id, this.o.signer);
      if (r.endRecord) lost.sealed = { bytes: r.endRecord.bytes, chain: r.endRecord.chain };
    } catch (e) {
      this.o.log?.error('cannot close the recording as interrupted; it reads as incomplete', { component: 'recording', sid: this.id, error: (e as Error).message });
    }
    return lost;
  }

  async end(e: SessionEnd): Promise<void> {
    if (this.ended) return;
    this.ended = true;
    let totals: WriterTotals;
    try {
      totals = await this.writer.close();
    } catch (err) {
      totals = await this.closeLost(err as Error);
    }
    const endedAt = this.o.clock.now().getTime();
    if (this.o.signer && totals.file.sha256 && totals.sealed && !this.failure && !this.writer.error) {
      // Beside the .cast, never inside it: the recording stays plain asciicast v2.
      try {
        // Atomic: a reader (the shipper, a verifier) sees no signature or the whole one.
        writeFileAtomic(sigPath(this.writer.file), this.o.signer.signSshsig(totals.file.sha256), { mode: 0o644, overwrite: true });
      } catch (err) {
        // The session is over either way; a missing signature reads as "not verified", and the
        // session index still records the end (its sealed length and chain head).
        this.o.log?.error('cannot write the recording signature; the recording will read as unsigned', {
          component: 'recording',
          sid: this.id,
          error: (err as NodeJS.ErrnoException).code ?? (err as Error).message,
        });
      }
    }
    const end = {
      endedAt,
      exitStatus: e.exitStatus,
      exitSignal: e.exitSignal,
      bytesIn: totals.in.bytes,
      bytesOut: totals.out.bytes,
      sha256In: totals.in.sha256 || null,
      sha256Out: totals.out.sha256 || null,
      endReason: e.reason,
      recordingBytes: totals.sealed?.bytes ?? null,
      recordingChain: totals.sealed?.chain ?? null,
    };
    const audit = {
      sid: this.id,
      login: this.meta.login,
      node: this.meta.node,
      exit_status: e.exitStatus,
      exit_signal: e.exitSignal ?? undefined,
      reason: e.reason,
      bytes_in: totals.in.bytes,
      bytes_out: totals.out.bytes,
      recording_bytes: end.recordingBytes ?? undefined,
      recording_chain: end.recordingChain ?? undefined,
    };
    await this.service.recordEnd({ id: this.id, user: this.meta.user, end, audit });
  }
}

interface PendingEnd {
  id: string;
  user: string;
  end: Parameters<Store['endSession']>[1];
  audit: Record<string, unknown>;
  indexed?: boolean;
}

/** Starts recordings: a `.cast` file, a row in the session index, and the audit events. */
export class RecordingService {
  private readonly pending: PendingEnd[] = [];
  private retryTimer: NodeJS.Timeout | undefined;

  constructor(private readonly o: RecordingServiceOptions) {}

  get dir(): string {
    return this.o.storage.dir;
  }

  get storage(): RecordingStorage {
    return this.o.storage;
  }

  /** Where a recording's local file is, from its id (ids are UUIDs; nothing else is accepted). */
  pathFor(id: string): string {
    if (!isUuid(id)) throw unavailable(`invalid session id ${id}`);
    return this.o.storage.localPath(id);
  }

  /**
   * Writes a session's end to the index and the audit log. When the store is unreachable (the
   * shared database is down) the end is kept and retried, so the session still ends cleanly for
   * the user and the index catches up when the store is back.
   */
  async recordEnd(p: PendingEnd): Promise<void> {
    try {
      await this.writeEnd(p);
    } catch (err) {
      this.o.log?.error('cannot write the session end to the store; will retry', { component: 'recording', sid: p.id, error: (err as Error).message.split('\n')[0] });
      this.pending.push(p);
      this.retryTimer ??= setInterval(() => void this.retryEnds(), 2000);
      this.retryTimer.unref();
    }
  }

  private async writeEnd(p: PendingEnd): Promise<void> {
    if (!p.indexed) {
      await this.o.store.endSession(p.id, p.end);
      p.indexed = true;
    }
    await this.o.auditor.record(AuditEvents.sessionEnd, p.user, p.audit);
  }

  private retrying = false;
  private async retryEnds(): Promise<void> {
    if (this.retrying) return;
    this.retrying = true;
    try {
      while (this.pending.length > 0) {
        await this.writeEnd(this.pending[0]!);
        this.pending.shift();
        this.o.log?.info('wrote a delayed session end', { component: 'recording', remaining: this.pending.length });
      }
      clearInterval(this.retryTimer);
      this.retryTimer = undefined;
    } catch {
      // Still down: the next tick tries again (the first failure was logged by recordEnd, and
      // close() logs whatever is left).
    } finally {
      this.retrying = false;
    }
  }

  /** Stops retrying; one last attempt for what is pending (shutdown). */
  async close(): Promise<void> {
    if (this.retryTimer) clearInterval(this.retryTimer);
    this.retryTimer = undefined;
    await this.retryEnds();
    for (const p of this.pending) {
      this.o.log?.error('stopping with a session end the store has not taken; its session stays open until the next start closes it as interrupted', {
        component: 'recording',
        sid: p.id,
        user: p.user,
        ...p.audit,
      });
    }
  }

  async start(meta: SessionMeta): Promise<ActiveRecording> {
    const id = meta.id ?? crypto.randomUUID();
    const now = this.o.clock.now();
    let writer: CastWriter;
    let active: ActiveRecording | undefined;
    let early: Error | undefined;
    try {
      fs.mkdirSync(this.o.storage.dir, { recursive: true, mode: 0o700 });
      writer = await (this.o.writers ?? inThreadWriters).open(
        this.pathFor(id),
        {
          width: meta.cols || 80,
          height: meta.rows || 24,
          timestamp: Math.floor(now.getTime() / 1000),
          title: `${meta.user} as ${meta.login}@${meta.node}${meta.command ? `: ${meta.command}` : ''}`,
          ...(meta.command ? { command: meta.command } : {}),
          env: { TERM: meta.term ?? 'xterm', SHELL: '/bin/sh' },
          session: id,
          user: meta.user,
          login: meta.login,
          node: meta.node,
          started_at: now.toISOString(),
          pty: meta.pty,
        },
        {
          maxOutputBytes: meta.kind === 'exec' && !meta.pty ? this.o.maxExecRecordingSize : 0,
          // What is piped into a non-PTY shell or exec (`bash`, `sh -s`, `python`) is the command
          // itself, so it is always recorded; record_input is about PTY keystrokes only.
          recordInput: this.o.recordInput || (!meta.pty && (meta.kind === 'shell' || meta.kind === 'exec')),
          onError: (err) => (active ? active.fail(err) : (early = err)),
          // The writer is synchronous with the first output, after start() returned: active is set.
          onLimit: (limit) => active?.limitReached(limit),
          ...(this.o.onWritten ? { onWritten: this.o.onWritten } : {}),
          ...(this.o.signer
            ? {
                integrity: {
                  session: id,
                  signer: this.o.signer,
                  fingerprint: fingerprint(this.o.signer.publicBlob),
                  checkpointIntervalMs: this.o.checkpointIntervalMs ?? 2000,
                  // Each checkpoint's hash also goes to the audit stream (anchors.ts): emit, never
                  // awaited, so the relay does not wait on the store; a failed write is logged whole.
                  onCheckpoint: (c: Checkpoint) => this.o.auditor.emit(AuditEvents.recordingCheckpoint, meta.user, anchorFields(id, c)),
                },
              }
            : {}),
        },
      );
    } catch (err) {
      throw unavailable(`cannot start the session recording: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, 'recording is mandatory; check the data dir', err);
    }
    const rec: SessionRecord = {
      id,
      kind: meta.kind,
      user: meta.user,
      login: meta.login,
      node: meta.node,
      clientAddr: meta.clientAddr,
      command: meta.command,
      pty: meta.pty,
      startedAt: now.getTime(),
      endedAt: null,
      exitStatus: null,
      exitSignal: null,
      bytesIn: 0,
      bytesOut: 0,
      sha256In: null,
      sha256Out: null,
      recording: `${id}.cast`,
      endReason: null,
      serverId: this.o.serverId,
    };
    try {
      await this.o.store.createSession(rec);
      await auditSessionStart(this.o.auditor, id, meta, true);
    } catch (err) {
      writer.close().catch((e: Error) => this.o.log?.error('cannot close a refused session\'s recording', { component: 'recording', sid: id, error: e.message }));
      throw unavailable(`cannot start the session recording: ${(err as Error).message}`, 'recording is mandatory; check the store', err);
    }
    active = new ActiveRecording(id, meta, writer, this.o, this);
    if (early) active.fail(early);
    return active;
  }

  /**
   * Closes the sessions a crash left open (DESIGN.md: one daemon per data dir, so every open
   * session here is this daemon's own): each recording is signed as far as its last checkpoint
   * and the session ends as `interrupted`, with its `session.end` event.
   */
  async closeInterrupted(): Promise<number> {
    let closed = 0;
    for (let round = 0; round < 1000; round++) {
      const open = await this.o.store.listSessions({ open: true, serverId: this.o.serverId, limit: 100 });
      if (open.length === 0) break;
      for (const s of open) {
        let verifiedUntil = 0;
        let note = 'no recording file';
        const file = this.o.storage.localPath(s.id);
        let sealed: { bytes: number; chain: string } | null = null;
        if (fs.existsSync(file) && this.o.signer) {
          try {
            const r = await closeInterruptedRecording(file, s.id, this.o.signer);
            verifiedUntil = r.verifiedUntil;
            note = r.summary;
            if (r.endRecord) sealed = { bytes: r.endRecord.bytes, chain: r.endRecord.chain };
          } catch (err) {
            note = `cannot sign the recording: ${(err as Error).message}`;
          }
        }
        const endedAt = s.startedAt + Math.round(verifiedUntil * 1000);
        await this.o.store.endSession(s.id, { endedAt, exitStatus: null, exitSignal: null, bytesIn: s.bytesIn, bytesOut: s.bytesOut, sha256In: null, sha256Out: null, endReason: 'interrupted', recordingBytes: sealed?.bytes ?? null, recordingChain: sealed?.chain ?? null });
        await this.o.auditor.record(AuditEvents.sessionEnd, s.user, { sid: s.id, login: s.login, node: s.node, reason: 'interrupted', verified_until: verifiedUntil, integrity: note });
        this.o.log?.warn('closed a session the last run left open', { component: 'recording', sid: s.id, user: s.user, integrity: note });
        closed++;
      }
    }
    return closed;
  }
}
