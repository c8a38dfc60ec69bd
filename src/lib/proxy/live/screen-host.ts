import { Worker } from 'node:worker_threads';
import { builtWorkerScript } from '../../worker-script.js';
import type { Logger } from '../../log.js';
import { SCREEN_BACKLOG_BYTES, SCREEN_TAIL_BYTES, TerminalScreen } from './screen.js';

/** A terminal of this size painted by `paint` shows the session's current screen. */
export interface ScreenPaint {
  cols: number;
  rows: number;
  paint: string;
}

/** What a live session needs of its screen: a TerminalScreen in this thread, or its stand-in for the worker. */
export interface LiveScreen {
  /** Output bytes skipped because the emulator was behind (as far as this thread knows). */
  readonly skipped: number;
  output(data: Buffer): void;
  resize(cols: number, rows: number): void;
  snapshot(): Promise<ScreenPaint>;
  dispose(): void;
}

export interface LiveScreenOptions {
  cols: number;
  rows: number;
  /** The emulator is gone (its worker died): the live view of this session ends, the session goes on. */
  onLost(reason: string): void;
}

export type LiveScreenFactory = (o: LiveScreenOptions) => LiveScreen;

/** Emulation in the calling thread (unit tests running the sources, and the default). */
export const inThreadLiveScreens: LiveScreenFactory = (o) => new TerminalScreen(o.cols, o.rows);

/** Messages to the worker (screen-worker.ts). */
export type ToLiveWorker =
  | { op: 'open'; id: number; cols: number; rows: number }
  /**
   * One turn's output of a session in one transferred buffer; `sizes` are the resizes, each
   * applied before the byte at `at`. `skip`: the host dropped that many bytes before these (the
   * screen is reset first and `data` is the tail).
   */
  | { op: 'feed'; id: number; data: Uint8Array; sizes: Array<{ at: number; cols: number; rows: number }>; skip?: number }
  | { op: 'snapshot'; id: number; seq: number }
  | { op: 'dispose'; id: number };

/** Messages from the worker. */
export type ToLiveHost =
  | { op: 'ack'; id: number; bytes: number }
  | { op: 'paint'; id: number; seq: number; paint?: ScreenPaint; skipped: number; error?: string };

export interface LiveScreenWorker {
  readonly screens: LiveScreenFactory;
  /** The running thread, if any (tests end it to show that a death is handled). */
  readonly thread: Worker | undefined;
  close(): Promise<void>;
}

interface Session {
  o: LiveScreenOptions;
  waiting: Map<number, { resolve: (p: ScreenPaint) => void; reject: (err: Error) => void }>;
  acked(bytes: number): void;
  /** The worker's count of skipped bytes, as of its last paint. */
  skipped: number;
  lost(): void;
}

type Size = { cols: number; rows: number };

/**
 * One worker thread that keeps the current screen of every live PTY session (the xterm parsing
 * of all their output), so it runs beside the relay's thread instead of on it. On the relay's
 * thread a session's screen is a stand-in that copies one turn's output into one buffer and
 * transfers it, with the resizes at their byte offsets. Memory stays bounded per session: bytes
 * handed over and not yet taken by the worker count against SCREEN_BACKLOG_BYTES; past it the
 * stand-in keeps only the last SCREEN_TAIL_BYTES (the same skip-ahead as TerminalScreen's) and
 * hands them over, after a reset, once the worker has caught up. A worker that dies ends the
 * live view of its sessions (onLost; the sessions go on) and the next session starts a new one.
 * Without the built worker script (the sources run by unit tests) emulation stays in this thread.
 */
export function createLiveScreenWorker(log: Logger): LiveScreenWorker {
  const script = builtWorkerScript(new URL('./screen-worker.js', import.meta.url));
  if (!script) return { screens: inThreadLiveScreens, thread: undefined, close: async () => {} };
  let worker: Worker | undefined;
  let ids = 0;
  let seqs = 0;
  const sessions = new Map<number, Session>();

  const fail = (reason: string, tell: boolean) => {
    const lost = [...sessions.values()];
    sessions.clear();
    worker = undefined;
    for (const s of lost) {
      s.lost();
      for (const w of s.waiting.values()) w.reject(new Error(reason));
      if (tell) s.o.onLost(reason);
    }
  };
  const started = (): Worker => {
    if (worker) return worker;
    const w = new Worker(script);
    // It holds no state the daemon needs to keep it alive for.
    w.unref();
    w.on('message', (m: ToLiveHost) => {
      const s = sessions.get(m.id);
      if (!s) return;
      if (m.op === 'ack') return s.acked(m.bytes);
      const waiter = s.waiting.get(m.seq);
      s.waiting.delete(m.seq);
      s.skipped = m.skipped;
      if (m.paint) waiter?.resolve(m.paint);
      else waiter?.reject(new Error(m.error ?? 'no paint'));
    });
    w.on('error', (err) => {
      log.error('the live screen worker failed; the live view of its sessions ended', { component: 'live', error: err.message });
      if (worker === w) fail(`the live screen worker failed: ${err.message}`, true);
    });
    w.on('exit', (code) => {
      if (worker === w) fail(`the live screen worker exited (${code})`, true);
    });
    worker = w;
    return w;
  };

  const screens: LiveScreenFactory = (o) => {
    const w = started();
    const id = ++ids;
    let items: Array<Buffer | Size> = [];
    let itemBytes = 0;
    /** Handed to the worker and not yet taken by its emulator. */
    let inFlight = 0;
    /** Bytes dropped here (the worker was behind) and not yet reported to it. */
    let dropped = 0;
    /** Past the backlog: output waits here (its tail only) until the worker has taken what it was given. */
    let holding = false;
    let scheduled = false;
    let gone = false;

    const flush = (force: boolean) => {
      scheduled = false;
      if (gone || items.length === 0) return;
      // Held output waits for the worker to catch up (a snapshot does not wait).
      if (holding && inFlight > 0 && !force) return;
      // A copy into a buffer of its own, transferred: the chunks are views into buffers that
      // are reused or pooled, which a transfer would take away and a clone would copy whole.
      const data = new Uint8Array(itemBytes);
      const sizes: Array<{ at: number; cols: number; rows: number }> = [];
      let at = 0;
      for (const it of items) {
        if (Buffer.isBuffer(it)) {
          data.set(it, at);
          at += it.length;
        } else sizes.push({ at, cols: it.cols, rows: it.rows });
      }
      const m: ToLiveWorker = { op: 'feed', id, data, sizes, ...(dropped > 0 ? { skip: dropped } : {}) };
      inFlight += data.length;
      items = [];
      itemBytes = 0;
      dropped = 0;
      holding = false;
      w.postMessage(m, [data.buffer]);
    };
    const schedule = () => {
      if (scheduled) return;
      scheduled = true;
      // Everything one deliver() gives goes in one message.
      queueMicrotask(() => flush(false));
    };
    // The worker is behind by more than the backlog: keep only the tail (the last size before it
    // still applies), as TerminalScreen's own skip-ahead does.
    const skipAhead = () => {
      let excess = itemBytes - SCREEN_TAIL_BYTES;
      let size: Size | undefined;
      let i = 0;
      for (; i < items.length && excess > 0; i++) {
        const it = items[i];
        if (!Buffer.isBuffer(it)) size = it;
        else if (it.length <= excess) {
          excess -= it.length;
          itemBytes -= it.length;
          dropped += it.length;
        } else {
          items[i] = it.subarray(excess);
          itemBytes -= excess;
          dropped += excess;
          excess = 0;
          break;
        }
      }
      items = items.slice(i);
      if (size) items.unshift(size);
    };

    const session: Session = {
      o,
      waiting: new Map(),
      skipped: 0,
      acked: (bytes) => {
        inFlight -= bytes;
        if (inFlight === 0 && holding) flush(false);
      },
      lost: () => {
        gone = true;
        items = [];
        itemBytes = 0;
      },
    };
    sessions.set(id, session);
    w.postMessage({ op: 'open', id, cols: o.cols, rows: o.rows } satisfies ToLiveWorker);
    return {
      get skipped() {
        return session.skipped + dropped;
      },
      output(data) {
        if (gone || data.length === 0) return;
        items.push(data);
        itemBytes += data.length;
        if (inFlight + itemBytes > SCREEN_BACKLOG_BYTES) holding = true;
        if (holding && itemBytes > SCREEN_TAIL_BYTES) skipAhead();
        schedule();
      },
      resize(cols, rows) {
        if (gone) return;
        items.push({ cols, rows });
        schedule();
      },
      snapshot() {
        if (gone) return Promise.reject(new Error('the live screen is gone'));
        flush(true);
        const seq = ++seqs;
        return new Promise<ScreenPaint>((resolve, reject) => {
          session.waiting.set(seq, { resolve, reject });
          w.postMessage({ op: 'snapshot', id, seq } satisfies ToLiveWorker);
        });
      },
      dispose() {
        if (gone) return;
        session.lost();
        if (sessions.delete(id)) w.postMessage({ op: 'dispose', id } satisfies ToLiveWorker);
        for (const waiter of session.waiting.values()) waiter.reject(new Error('the live screen was disposed'));
      },
    };
  };

  // Started with the daemon: its thread is then part of the daemon's steady state, and a worker
  // that cannot start shows at start-up.
  started();
  return {
    screens,
    get thread() {
      return worker;
    },
    async close() {
      const w = worker;
      fail('the daemon is stopping', false);
      await w?.terminate();
    },
  };
}
