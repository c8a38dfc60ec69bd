import crypto from 'node:crypto';
import { parentPort } from 'node:worker_threads';
import { AsciicastWriter, type WriterOptions } from './asciicast-writer.js';
import type { RecordingSigner } from './integrity.js';
import type { FromWriterWorker, ToWriterWorker } from './writer-pool.js';

/*
 * A recording worker thread (writer-pool.ts starts them): it runs the AsciicastWriter of each
 * session given to it. Messages arrive in order per session; a batch is acknowledged once the
 * writer's queue is below its low-water mark, which is what paces the session's relay.
 */
const port = parentPort;
if (!port) throw new Error('writer-worker.js runs as a worker thread');
const writers = new Map<number, AsciicastWriter>();
const post = (m: FromWriterWorker) => port.postMessage(m);

function open(m: Extract<ToWriterWorker, { op: 'open' }>): void {
  const { id } = m;
  const i = m.options.integrity;
  const signer: RecordingSigner | undefined = i && {
    publicBlob: Buffer.from(i.publicBlob),
    identity: i.identity,
    namespace: i.namespace,
    sign: (message) => crypto.sign(null, message, i.key),
    signSshsig: () => {
      // The final SSHSIG is made by the daemon's thread, from the totals this writer returns.
      throw new Error('not signed in the recording worker');
    },
  };
  const options: WriterOptions = {
    ...m.options,
    ...(i && signer
      ? {
          integrity: {
            session: i.session,
            fingerprint: i.fingerprint,
            ...(i.checkpointIntervalMs !== undefined ? { checkpointIntervalMs: i.checkpointIntervalMs } : {}),
            signer,
            onCheckpoint: (checkpoint) => post({ op: 'checkpoint', id, checkpoint }),
          },
        }
      : { integrity: undefined }),
    onError: (err) => post({ op: 'error', id, message: err.message, ...((err as NodeJS.ErrnoException).code ? { code: (err as NodeJS.ErrnoException).code } : {}) }),
    // The relay's thread counts the limit itself and ends the session (writer-pool.ts); the
    // writer here only marks it in the recording.
    onWritten: (bytes, lagMs) => post({ op: 'written', id, bytes, lagMs }),
  };
  if (!options.integrity) delete options.integrity;
  try {
    writers.set(id, new AsciicastWriter(m.file, m.header, options));
    post({ op: 'opened', id });
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    post({ op: 'opened', id, error: { message: e.message, ...(e.code ? { code: e.code } : {}) } });
  }
}

/** One session's failure stays that session's: it ends with the reason, the others go on. */
function failed(id: number, err: unknown): void {
  const w = writers.get(id);
  writers.delete(id);
  const e = err as NodeJS.ErrnoException;
  const message = `the recording failed: ${e?.message ?? String(err)}`;
  post({ op: 'error', id, message, ...(e?.code ? { code: e.code } : {}) });
  // Writes already queued finish first: the daemon then closes the file as interrupted, alone.
  void (w?.settled() ?? Promise.resolve()).finally(() => post({ op: 'closed', id, error: message }));
}

port.on('message', (m: ToWriterWorker) => {
  try {
    handle(m);
  } catch (err) {
    failed(m.id, err);
  }
});

function handle(m: ToWriterWorker): void {
  if (m.op === 'open') return open(m);
  const w = writers.get(m.id);
  if (m.op === 'events') {
    if (!w) return;
    const data = m.data ? Buffer.from(m.data) : undefined;
    let off = 0;
    for (const e of m.events) {
      if (e.c === 'r') w.resize(e.cols, e.rows, e.t);
      else if (e.c === 'm') w.marker(e.label, e.t);
      else {
        const chunk = data!.subarray(off, off + e.n);
        off += e.n;
        if (e.c === 'o') w.output(chunk, e.t);
        else w.input(chunk, e.t);
      }
    }
    w.onceDrained(() => post({ op: 'ack', id: m.id, bytes: m.bytes }));
    return;
  }
  if (!w) return post({ op: 'closed', id: m.id, error: 'no such recording in this worker' });
  writers.delete(m.id);
  w.close().then(
    (t) => post({ op: 'closed', id: m.id, totals: { ...t, file: { bytes: t.file.bytes, sha256: t.file.sha256 ? new Uint8Array(t.file.sha256) : undefined } } }),
    (err: Error) => post({ op: 'closed', id: m.id, error: err.message }),
  );
}
