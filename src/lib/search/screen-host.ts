import { Worker } from 'node:worker_threads';
import { builtWorkerScript } from '../worker-script.js';
import type { Logger } from '../log.js';
import { ScreenLines, type ScreenCommand, type ScreenLine, type ScreenLinesOptions } from './screen-lines.js';

/** What the indexer needs of a session's screen: ScreenLines in this thread, or its stand-in for the worker. */
export interface ScreenSink {
  output(data: Uint8Array | string, offsetMs: number): void;
  input(data: Uint8Array | string, offsetMs: number): void;
  resize(cols: number, rows: number, offsetMs: number): void;
  flush(): Promise<void>;
  end(offsetMs: number): Promise<void>;
  dispose(): void;
}

export type ScreenFactory = (o: ScreenLinesOptions) => ScreenSink;

/** Emulation in the calling thread (tests, reindex, and when the worker script is not built). */
export const inThreadScreens: ScreenFactory = (o) => new ScreenLines(o);

/** Messages to the worker (screen-worker.ts). */
export type ToWorker =
  | { op: 'open'; id: number; cols: number; rows: number; scrollback?: number; commands: boolean }
  | { op: 'output' | 'input'; id: number; data: Uint8Array | string; t: number }
  | { op: 'resize'; id: number; cols: number; rows: number; t: number }
  | { op: 'flush'; id: number; seq: number }
  | { op: 'end'; id: number; seq: number; t: number }
  | { op: 'dispose'; id: number };

/** Messages from the worker. */
export type ToHost =
  | { op: 'line'; id: number; line: ScreenLine }
  | { op: 'command'; id: number; command: ScreenCommand }
  | { op: 'done'; id: number; seq: number; error?: string };

export interface ScreenWorker {
  readonly screens: ScreenFactory;
  close(): Promise<void>;
}

interface Session {
  o: ScreenLinesOptions;
  waiting: Map<number, { resolve: () => void; reject: (err: Error) => void }>;
}

/**
 * One worker thread that runs the terminal emulators of every indexed session, so the parsing
 * (the indexer's heavy part) is off the relay's thread, as the design asks of taps. Started on
 * the first session; a worker that dies fails the sessions it had (their indexers are dropped
 * and audited) and the next session starts a new one. Where the worker script is not there (the
 * sources run by tests, not the build) emulation stays in this thread.
 */
export function createScreenWorker(log: Logger): ScreenWorker {
  const script = builtWorkerScript(new URL('./screen-worker.js', import.meta.url));
  if (!script) return { screens: inThreadScreens, close: async () => {} };
  let worker: Worker | undefined;
  let ids = 0;
  let seqs = 0;
  const sessions = new Map<number, Session>();

  const fail = (err: Error) => {
    for (const s of sessions.values()) for (const w of s.waiting.values()) w.reject(err);
    sessions.clear();
    worker = undefined;
  };
  const started = (): Worker => {
    if (worker) return worker;
    const w = new Worker(script);
    // It holds no state the daemon needs to keep it alive for.
    w.unref();
    w.on('message', (m: ToHost) => {
      const s = sessions.get(m.id);
      if (!s) return;
      if (m.op === 'line') s.o.onLine(m.line);
      else if (m.op === 'command') s.o.onCommand?.(m.command);
      else {
        const waiter = s.waiting.get(m.seq);
        s.waiting.delete(m.seq);
        if (m.error) waiter?.reject(new Error(m.error));
        else waiter?.resolve();
      }
    });
    w.on('error', (err) => {
      log.error('the terminal emulation worker failed; its sessions are no longer indexed', { component: 'search', error: err.message });
      if (worker === w) fail(err);
    });
    w.on('exit', (code) => {
      if (worker === w) fail(new Error(`the terminal emulation worker exited (${code})`));
    });
    worker = w;
    return w;
  };

  const screens: ScreenFactory = (o) => {
    const w = started();
    const id = ++ids;
    const session: Session = { o, waiting: new Map() };
    sessions.set(id, session);
    const send = (m: ToWorker, transfer: ArrayBuffer[] = []) => {
      if (sessions.has(id)) w.postMessage(m, transfer);
    };
    // A copy of just these bytes, handed over: a Buffer's view may sit on a larger pooled buffer,
    // which a structured clone would copy whole.
    const bytes = (kind: 'output' | 'input', data: Uint8Array | string, t: number) => {
      if (typeof data === 'string') return send({ op: kind, id, data, t });
      const copy = new Uint8Array(data);
      send({ op: kind, id, data: copy, t }, [copy.buffer]);
    };
    const ask = (m: (seq: number) => ToWorker) =>
      new Promise<void>((resolve, reject) => {
        if (!sessions.has(id)) return resolve();
        const seq = ++seqs;
        session.waiting.set(seq, { resolve, reject });
        w.postMessage(m(seq));
      });
    send({ op: 'open', id, cols: o.cols, rows: o.rows, scrollback: o.scrollback, commands: o.onCommand !== undefined });
    return {
      output: (data, t) => bytes('output', data, t),
      input: (data, t) => bytes('input', data, t),
      resize: (cols, rows, t) => send({ op: 'resize', id, cols, rows, t }),
      flush: () => ask((seq) => ({ op: 'flush', id, seq })),
      end: async (t) => {
        try {
          await ask((seq) => ({ op: 'end', id, seq, t }));
        } finally {
          sessions.delete(id);
        }
      },
      dispose: () => {
        send({ op: 'dispose', id });
        for (const waiter of session.waiting.values()) waiter.resolve();
        sessions.delete(id);
      },
    };
  };

  // Started with the daemon, not at the first session: its threads and descriptors are then part
  // of the daemon's steady state, and a worker that cannot start shows at start-up.
  started();
  return {
    screens,
    async close() {
      const w = worker;
      worker = undefined;
      fail(new Error('the daemon is stopping'));
      await w?.terminate();
    },
  };
}
