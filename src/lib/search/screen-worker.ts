import { parentPort } from 'node:worker_threads';
import { ScreenLines } from './screen-lines.js';
import type { ToHost, ToWorker } from './screen-host.js';

/*
 * The worker thread that runs every session's terminal emulator (screen-host.ts starts it), so
 * emulation runs beside the relay's thread, not on it. Messages arrive in order per session; each
 * answer (lines, commands, then `done`) goes back in the order it was made.
 */
const port = parentPort;
if (!port) throw new Error('screen-worker.js runs as a worker thread');
const screens = new Map<number, ScreenLines>();
const post = (m: ToHost) => port.postMessage(m);

port.on('message', (m: ToWorker) => {
  if (m.op === 'open') {
    screens.set(
      m.id,
      new ScreenLines({
        cols: m.cols,
        rows: m.rows,
        scrollback: m.scrollback,
        onLine: (line) => post({ op: 'line', id: m.id, line }),
        onCommand: m.commands ? (command) => post({ op: 'command', id: m.id, command }) : undefined,
      }),
    );
    return;
  }
  const s = screens.get(m.id);
  if (!s) return m.op === 'flush' || m.op === 'end' ? post({ op: 'done', id: m.id, seq: m.seq }) : undefined;
  switch (m.op) {
    case 'output':
      return s.output(m.data, m.t);
    case 'input':
      return s.input(m.data, m.t);
    case 'resize':
      return s.resize(m.cols, m.rows, m.t);
    case 'dispose':
      screens.delete(m.id);
      return s.dispose();
    case 'flush':
    case 'end': {
      const done = m.op === 'flush' ? s.flush() : s.end(m.t);
      if (m.op === 'end') screens.delete(m.id);
      done.then(
        () => post({ op: 'done', id: m.id, seq: m.seq }),
        (err: Error) => post({ op: 'done', id: m.id, seq: m.seq, error: err.message }),
      );
      return;
    }
  }
});
