import { parentPort, workerData } from 'node:worker_threads';
import type { FromLineIndex, ToLineIndex } from './line-index-host.js';
import { createSqliteStore } from './sqlite.js';

/*
 * The search index writer's thread (line-index-host.ts starts it): its own connection to the
 * daemon's SQLite file, used for nothing but session_lines. Batches are written in arrival order.
 */
const port = parentPort;
if (!port) throw new Error('line-index-worker.js runs as a worker thread');
const post = (m: FromLineIndex) => port.postMessage(m);

try {
  const store = await createSqliteStore((workerData as { file: string }).file);
  let queue = Promise.resolve();
  port.on('message', (m: ToLineIndex) => {
    queue = queue.then(() =>
      store.indexSessionLines(m.sessionId, m.lines).then(
        () => post({ op: 'done', seq: m.seq }),
        (err: Error) => post({ op: 'done', seq: m.seq, error: err.message }),
      ),
    );
  });
  post({ op: 'ready' });
} catch (err) {
  post({ op: 'ready', error: (err as Error).message });
}
