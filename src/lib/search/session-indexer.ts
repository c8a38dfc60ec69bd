import { AuditEvents, type Auditor } from '../audit/index.js';
import { formatOffset } from '../duration.js';
import type { Logger } from '../log.js';
import type { SessionLine, SessionRecord, Store } from '../store/index.js';
import { inThreadScreens, type ScreenFactory, type ScreenSink } from './screen-host.js';
import type { ScreenCommand, ScreenLine } from './screen-lines.js';
import { TextLines } from './text-lines.js';
import { settlesWithin } from '../within.js';

/**
 * The events an indexer reads (the session pipeline's tap events; file and exit are ignored).
 * Declared here, not imported, so search does not depend on the proxy: the pipeline's
 * `TapConsumer` is satisfied structurally.
 */
export type IndexerEvent =
  | { type: 'output' | 'input'; data: Buffer }
  | { type: 'resize'; cols: number; rows: number }
  | { type: 'file' | 'exit' };

export interface SearchIndexerOptions {
  sessionId: string;
  /** The terminal size the session started with; null for a session without a PTY. */
  pty: { cols: number; rows: number } | null;
  store: Pick<Store, 'getSession' | 'indexSessionLines'>;
  /** Where `session.command` events go (shell sessions); none when reindexing. */
  auditor?: Auditor;
  log: Logger;
  /** Time 0 of the recording (epoch ms, the recorder's clock); default the session row's start. */
  recordingStart?: number;
  /** Lines per store write (default 200). */
  batchLines?: number;
  /** A batch is written at least this often while lines come in (default 1000 ms). */
  flushMs?: number;
  /** Lines indexed per session at most (default MAX_INDEXED_LINES); the rest is in the recording only. */
  maxLines?: number;
  now?: () => number;
  /** Where the terminal is emulated (default: this thread; the daemon passes its worker's). */
  screens?: ScreenFactory;
  /** Where the writes still going on after close() are counted, for the daemon's shutdown to wait for. */
  pendingWrites?: PendingIndexWrites;
}

/**
 * The search index writes of closed indexers that are still going on: the daemon's shutdown waits
 * for them (bounded) before it closes the store, so the lines a session handed over at its end are
 * not lost when the daemon stops right after it. Only closed indexers are counted, and each
 * settles once its writes do, so nothing accumulates.
 */
export class PendingIndexWrites {
  private readonly pending = new Set<Promise<void>>();

  constructor(private readonly log: Logger) {}

  add(settled: Promise<void>): void {
    // Failures are the indexer's to log.
    const p = settled.catch(() => undefined);
    this.pending.add(p);
    void p.then(() => this.pending.delete(p));
  }

  /** Waits for every write counted so far, at most `timeoutMs`. */
  async drain(timeoutMs: number): Promise<void> {
    if (this.pending.size === 0) return;
    if (!(await settlesWithin(Promise.all([...this.pending]), timeoutMs))) this.log.warn('stopping before the search index lines of ended sessions were written; any that are lost, tctl recordings reindex writes again', { component: 'search', sessions: this.pending.size, waited_ms: timeoutMs });
  }
}

/**
 * Lines indexed per session at most. A bulk transfer (`yes`, `cat` of a log through exec) would
 * otherwise be millions of rows of little use to a search, and the work to make them would
 * compete with the relay for this thread; past the cap the indexer stops reading the session.
 */
export const MAX_INDEXED_LINES = 100_000;

/** Bytes of a non-PTY session read for text at most (binary or line-less output never reaches the line cap). */
export const MAX_TEXT_BYTES = 16 * 1024 * 1024;

/**
 * Lines handed to the store and not yet written past which new lines are skipped. The store
 * writes about 150,000 lines a second (SQLite FTS5 here); a bulk stream makes them ten times
 * faster than that. Waiting for the store would let the tap's buffer overflow and drop the indexer
 * for the rest of the session (its command log too); skipping keeps it reading, and it indexes
 * again as soon as the store has caught up.
 */
export const MAX_UNWRITTEN_LINES = 4_000;
/** The same bound in bytes of text (lines may be 4 KiB long): a session's index holds at most this much. */
export const MAX_UNWRITTEN_BYTES = 1024 * 1024;
/** Store writes in flight per session: one being written, one waiting (a PostgreSQL pool is shared). */
const MAX_WRITES_IN_FLIGHT = 2;

/** One session's indexer: what the pipeline runs as an optional tap. */
export interface SearchIndexer {
  readonly name: string;
  /** Events with the epoch ms each was seen at (the tap stamps them as they pass). */
  deliver(events: readonly IndexerEvent[], at?: readonly number[]): Promise<void>;
  /**
   * Ends the session's lines and hands every one to the store; resolves without waiting for the
   * store to write them (the session's end does not wait for its search index: DESIGN.md, optional
   * taps). A write that fails after that is logged here.
   */
  close(end?: { reason: string }): Promise<void>;
  /**
   * Resolves once the indexer is closed and every line it handed over is written; rejects with
   * the first failure. Reindexing waits for it, and so does the daemon's shutdown before it closes
   * the store (PendingIndexWrites).
   */
  settled(): Promise<void>;
}

/**
 * Indexes one session as it runs: a PTY session through the terminal emulator (ScreenLines), a
 * non-PTY one as text (TextLines, output and piped input alike); lines go to the store in
 * batches, and each command line submitted at a shell prompt becomes a `session.command` event.
 * It runs as an optional tap, so it is fed in batches on a later turn than the relay's, and a
 * slow store makes it fall behind and be dropped (audited), never slows the session.
 */
export function createSearchIndexer(o: SearchIndexerOptions): SearchIndexer {
  const now = o.now ?? Date.now;
  const batchLines = o.batchLines ?? 200;
  const flushMs = o.flushMs ?? 1000;
  let session: SessionRecord | null | undefined;
  let screen: ScreenSink | undefined;
  let out: TextLines | undefined;
  let inp: TextLines | undefined;
  let seq = 0;
  let pending: SessionLine[] = [];
  let lastWrite = now();
  let closed = false;
  let full = false;
  let textBytes = 0;
  /** A shell's commands are logged past the line cap too, so its terminal is still emulated. */
  let commandLog = false;
  /** Lines handed to the store, not yet written; and the store's writes in flight. */
  let unwritten = 0;
  let unwrittenBytes = 0;
  const writes = new Set<Promise<void>>();
  let writeError: Error | undefined;
  /** The write failure was thrown into a delivery, which dropped the tap (logged and audited). */
  let dropReported = false;
  let skipped = 0;
  const maxLines = o.maxLines ?? MAX_INDEXED_LINES;
  const log = o.log.child({ component: 'search', sid: o.sessionId });

  let behindLogged = false;
  const behind = (): boolean => {
    if (unwritten < MAX_UNWRITTEN_LINES && unwrittenBytes < MAX_UNWRITTEN_BYTES) return false;
    if (!behindLogged) log.info('the search index writer is behind this session; skipping lines until it catches up', { unwritten });
    behindLogged = true;
    return true;
  };
  /** Whether a text stream's next line is wanted: one that is not is never decoded (TextLines). */
  const accepting = (): boolean => !atCap() && !behind();
  const atCap = (): boolean => {
    if (seq < maxLines) return false;
    if (!full) log.info('indexed the most lines a session gets; the rest is in the recording only', { lines: maxLines });
    full = true;
    return true;
  };
  const onLine = (l: ScreenLine) => {
    if (atCap()) return;
    if (behind()) {
      skipped++;
      return;
    }
    pending.push({ seq: seq++, offsetMs: l.offsetMs, text: l.text });
    unwritten++;
    unwrittenBytes += l.text.length;
  };
  const onCommand = (c: ScreenCommand) => {
    const s = session!;
    o.auditor?.emit(AuditEvents.sessionCommand, s.user, { sid: s.id, login: s.login, node: s.node, offset: formatOffset(c.offsetMs), offset_ms: c.offsetMs, command: c.command });
  };

  const start = async (): Promise<void> => {
    // The session's row names its start (the recording's time origin) and who it is.
    session = (await o.store.getSession(o.sessionId)) ?? null;
    if (!session) return log.warn('no session row; not indexing', {});
    if (session.kind === 'sftp' || session.kind === 'subsystem') return;
    commandLog = session.kind === 'shell' && o.auditor !== undefined;
    if (o.pty) screen = (o.screens ?? inThreadScreens)({ cols: o.pty.cols, rows: o.pty.rows, onLine, onCommand: commandLog ? onCommand : undefined });
    else {
      out = new TextLines(onLine, accepting);
      inp = new TextLines(onLine, accepting);
    }
  };

  /**
   * Hands a batch to the store without waiting for it (the next lines are being read meanwhile);
   * a failed write fails the next delivery, which drops the indexer (audited as a tap drop).
   */
  const write = (force: boolean): void => {
    if (writeError) {
      // Thrown into a delivery: the tap is dropped, which is logged and audited.
      dropReported = true;
      throw writeError;
    }
    if (pending.length === 0 || writes.size >= MAX_WRITES_IN_FLIGHT || (!force && pending.length < batchLines && now() - lastWrite < flushMs)) return;
    submit();
  };
  /** Hands what is pending to the store as one batch. */
  const submit = (): void => {
    const batch = pending;
    pending = [];
    lastWrite = now();
    const bytes = batch.reduce((n, l) => n + l.text.length, 0);
    const p: Promise<void> = o.store.indexSessionLines(o.sessionId, batch).then(
      () => {
        unwritten -= batch.length;
        unwrittenBytes -= bytes;
        writes.delete(p);
        // Lines that waited for this write go next (a full batch; a short one waits for the next delivery or the end).
        if (!writeError && pending.length >= batchLines) write(true);
      },
      (err: Error) => {
        unwritten -= batch.length;
        unwrittenBytes -= bytes;
        unwrittenLines += batch.length;
        writes.delete(p);
        writeError ??= err;
      },
    );
    writes.add(p);
  };
  /** At the end: everything pending is handed over at once, and the writes are waited for in the background. */
  let settle!: { resolve: () => void; reject: (err: Error) => void };
  const settling = new Promise<void>((resolve, reject) => (settle = { resolve, reject }));
  // Whoever waits gets the failure; nobody waiting is no unhandled rejection.
  settling.catch(() => undefined);
  let unwrittenLines = 0;
  const handOverRest = (): void => {
    if (!writeError && pending.length > 0) submit();
    // After a failed write nothing more is handed over: what waited is lost too.
    unwrittenLines += pending.length;
    pending = [];
    // Nothing is pending any more, so no write hands over another: these are the last.
    void Promise.allSettled([...writes]).then(() => {
      if (!writeError) return settle.resolve();
      // Once, unless a delivery already reported it (the tap's drop); a failure after the last delivery is reported here.
      if (!dropReported) log.error('search index lines of this session could not be written; search will not find them (tctl recordings reindex writes them again)', { lines: unwrittenLines, error: writeError.message });
      settle.reject(writeError);
    });
  };
  return {
    name: 'search-indexer',
    async deliver(events, at) {
      if (closed) return;
      if (session === undefined) await start();
      if (!session) return;
      const started = o.recordingStart ?? session.startedAt;
      // Past the line cap a text session is no longer read; a shell still is, for its command log.
      for (let i = 0; i < events.length && !(full && !(screen && commandLog)); i++) {
        const e = events[i]!;
        // Floored: a line's offset is never after the `.cast` event that showed it (the recorder
        // stamps the same event a moment earlier and rounds), so playing from it shows the line.
        const t = Math.floor((at?.[i] ?? now()) - started);
        if (!screen && (e.type === 'output' || e.type === 'input') && (textBytes += e.data.length) > MAX_TEXT_BYTES) {
          log.info('read the most text a session gets; the rest is in the recording only', { bytes: MAX_TEXT_BYTES });
          full = true;
          break;
        }
        if (e.type === 'output') {
          screen?.output(e.data, t);
          out?.write(e.data, t);
        } else if (e.type === 'input') {
          screen?.input(e.data, t);
          inp?.write(e.data, t);
        } else if (e.type === 'resize') screen?.resize(e.cols, e.rows, t);
        // Handed to the store as they fill a batch (without waiting), so a large delivery is
        // many small store writes, not one long one.
        if (pending.length >= batchLines) write(true);
      }
      await screen?.flush();
      write(false);
    },
    async close(end) {
      if (closed) return;
      closed = true;
      // Counted from the start of the close: a daemon stopping meanwhile waits for these lines too.
      o.pendingWrites?.add(settling);
      try {
        // Dropped for falling behind: stop at once (what the emulator still holds is not waited for).
        if (end?.reason.startsWith('tap dropped')) return screen?.dispose();
        if (session === undefined) await start();
        if (!session) return;
        const t = Math.floor(now() - (o.recordingStart ?? session.startedAt));
        // The emulator's last lines and commands are waited for (the session's end waits for the screen worker, not the store).
        await screen?.end(t);
        out?.end(t);
        inp?.end(t);
        const skippedBytes = (out?.skippedBytes ?? 0) + (inp?.skippedBytes ?? 0);
        if (skipped > 0 || skippedBytes > 0) log.info('lines skipped while the search index writer was behind', { skipped, skipped_bytes: skippedBytes, indexed: seq });
      } finally {
        // Whatever ended the close, what was read is handed over and settled() comes to an end.
        handOverRest();
      }
    },
    settled() {
      return settling;
    },
  };
}
