import { Worker } from 'node:worker_threads';
import { builtWorkerScript } from '../worker-script.js';
import type { Logger } from '../log.js';
import type { SessionLine, Store } from './types.js';

/*
 * The search index's writes for the embedded store, in a worker thread with its own connection to
 * the SQLite file. Indexing a busy session is thousands of FTS5 inserts a second, the largest
 * cost left on the relay's thread once recording moved off it; SQLite's WAL lets this second
 * connection write beside the daemon's (one writer at a time, each waiting up to busy_timeout).
 * PostgreSQL does that work in its own server process, so it keeps the daemon's pool.
 */

export type ToLineIndex = { op: 'index'; seq: number; sessionId: string; lines: readonly SessionLine[] };
export type FromLineIndex = { op: 'ready'; error?: string } | { op: 'done'; seq: number; error?: string };

export interface LineIndexWriter {
  indexSessionLines: Store['indexSessionLines'];
  close(): Promise<void>;
}

/**
 * Starts the worker for the SQLite file `file` (already created and migrated by the daemon);
 * `writeGate`: the daemon connection's (createSqliteStore), which the worker yields to.
 * Undefined where the worker script is not built (sources run by unit tests): the caller then
 * writes through its own store.
 */
export async function startLineIndexWriter(file: string, log: Logger, writeGate?: SharedArrayBuffer): Promise<LineIndexWriter | undefined> {
  const script = builtWorkerScript(new URL('./line-index-worker.js', import.meta.url));
  if (!script) {
    log.warn('the search index is written on the relay\'s thread: the worker script is not built', { component: 'search' });
    return undefined;
  }
  let seqs = 0;
  let stopping = false;
  const inFlight = new Set<Promise<void>>();
  const waiting = new Map<number, { resolve: () => void; reject: (e: Error) => void }>();

  /** A worker, ready: one at a time; a worker that died is replaced at the next write. */
  const spawn = (): Promise<Worker> => {
    const mine: Promise<Worker> = new Promise<Worker>((resolve, reject) => {
      const worker = new Worker(script, { workerData: { file, writeGate } });
      let ready = false;
      let dead = false;
      const died = (err: Error) => {
        if (dead) return;
        dead = true;
        if (current === mine) current = undefined;
        if (!ready) return reject(err);
        if (!stopping) log.error('the search index writer failed; it is started again for the next lines', { component: 'search', error: err.message });
        for (const w of waiting.values()) w.reject(err);
        waiting.clear();
      };
      worker.on('message', (m: FromLineIndex) => {
        if (m.op === 'ready') {
          if (m.error) return died(new Error(m.error));
          ready = true;
          return resolve(worker);
        }
        const w = waiting.get(m.seq);
        waiting.delete(m.seq);
        if (m.error) w?.reject(new Error(m.error));
        else w?.resolve();
      });
      worker.on('error', (err) => died(err));
      worker.on('exit', (code) => died(new Error(`the search index writer exited (${code})`)));
    });
    return mine;
  };
  let current: Promise<Worker> | undefined;
  const worker = (): Promise<Worker> => {
    if (stopping) return Promise.reject(new Error('the daemon is stopping'));
    const p = spawn();
    current = p;
    return p;
  };
  // A store the worker cannot open shows at start-up, not at the first session.
  await worker();
  return {
    indexSessionLines(sessionId, lines) {
      // A failed write fails the session's indexer, which is dropped and audited as a tap.
      if (lines.length === 0) return Promise.resolve();
      const p = (current ?? worker()).then(
        (w) =>
          new Promise<void>((resolve, reject) => {
            const seq = ++seqs;
            waiting.set(seq, { resolve, reject });
            w.postMessage({ op: 'index', seq, sessionId, lines } satisfies ToLineIndex);
          }),
      );
      inFlight.add(p);
      const settle = () => void inFlight.delete(p);
      p.then(settle, settle);
      return p;
    },
    async close() {
      // What was handed over is written before the connection closes (the sessions' indexers closed first).
      await Promise.allSettled([...inFlight]);
      stopping = true;
      const w = await current?.catch(() => undefined);
      current = undefined;
      await w?.terminate();
    },
  };
}
