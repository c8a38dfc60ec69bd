import { parentPort } from 'node:worker_threads';
import { TerminalScreen } from './screen.js';
import type { ToLiveHost, ToLiveWorker } from './screen-host.js';

/*
 * The worker thread that keeps the current screen of every live PTY session (screen-host.ts
 * starts it), so the xterm parsing of their output runs beside the relay's thread, not on it.
 * Messages arrive in order per session; a feed is acknowledged once its screen has queued it
 * (the screen's own backlog and skip-ahead bound what waits for xterm).
 */
const port = parentPort;
if (!port) throw new Error('screen-worker.js runs as a worker thread');
const screens = new Map<number, TerminalScreen>();
const post = (m: ToLiveHost) => port.postMessage(m);

const feed = (s: TerminalScreen, m: Extract<ToLiveWorker, { op: 'feed' }>) => {
  if (m.skip !== undefined) s.restart(m.skip);
  const data = Buffer.from(m.data.buffer, m.data.byteOffset, m.data.byteLength);
  let from = 0;
  for (const size of m.sizes) {
    if (size.at > from) s.output(data.subarray(from, size.at));
    from = size.at;
    s.resize(size.cols, size.rows);
  }
  if (data.length > from) s.output(data.subarray(from));
};

port.on('message', (m: ToLiveWorker) => {
  if (m.op === 'open') {
    screens.set(m.id, new TerminalScreen(m.cols, m.rows));
    return;
  }
  const s = screens.get(m.id);
  switch (m.op) {
    case 'feed':
      if (s) feed(s, m);
      return post({ op: 'ack', id: m.id, bytes: m.data.byteLength });
    case 'dispose':
      screens.delete(m.id);
      return s?.dispose();
    case 'snapshot':
      if (!s) return post({ op: 'paint', id: m.id, seq: m.seq, skipped: 0, error: 'no such screen' });
      s.snapshot().then(
        (paint) => post({ op: 'paint', id: m.id, seq: m.seq, paint, skipped: s.skipped }),
        (err: Error) => post({ op: 'paint', id: m.id, seq: m.seq, skipped: s.skipped, error: err.message }),
      );
      return;
  }
});
