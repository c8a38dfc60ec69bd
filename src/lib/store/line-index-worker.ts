import { parentPort, workerData } from 'node:worker_threads';
import type { FromLineIndex, ToLineIndex } from './line-index-host.js';
import { openSqliteDatabase } from './sqlite.js';
import { SqliteLineWriter } from './sqlite-line-writer.js';
import { lowerThreadPriority } from '../thread-priority.js';

/*
 * The search index writer's thread (line-index-host.ts starts it): its own connection to the
 * daemon's SQLite file, used for nothing but session_lines. Batches are written in arrival order.
 */
const port = parentPort;
if (!port) throw new Error('line-index-worker.js runs as a worker thread');
const post = (m: FromLineIndex) => port.postMessage(m);

const { file, writeGate } = workerData as { file: string; writeGate?: SharedArrayBuffer };
const gate = writeGate ? new Int32Array(writeGate) : undefined;

/** Waits (at most 100 ms) while the daemon's thread runs a statement: it goes first (sqlite.ts). */
function yieldToDaemon(): void {
  if (!gate) return;
  const until = performance.now() + 100;
  for (let v = Atomics.load(gate, 0); v > 0 && performance.now() < until; v = Atomics.load(gate, 0)) Atomics.wait(gate, 0, v, 5);
}

// Best effort (lines are skipped while it is behind): on a saturated machine the relays go first.
lowerThreadPriority();

try {
  const writer = new SqliteLineWriter(await openSqliteDatabase(file));
  // Batches arrive in order and are written synchronously, one message at a time.
  port.on('message', (m: ToLineIndex) => {
    try {
      // Short transactions: a daemon statement that finds the lock taken waits one of them out
      // on its first or second try (the busy handler's 1 and 2 ms), not a whole batch.
      writer.write(m.sessionId, m.lines, yieldToDaemon);
      post({ op: 'done', seq: m.seq });
    } catch (err) {
      post({ op: 'done', seq: m.seq, error: (err as Error).message });
    }
  });
  post({ op: 'ready' });
} catch (err) {
  post({ op: 'ready', error: (err as Error).message });
}
