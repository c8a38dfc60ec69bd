import type { KeyObject } from 'node:crypto';
import os from 'node:os';
import { Worker } from 'node:worker_threads';
import { builtWorkerScript } from '../worker-script.js';
import type { Logger } from '../log.js';
import { type AsciicastHeader, AsciicastWriter, type WriterOptions, type WriterTotals } from './asciicast-writer.js';
import type { Checkpoint } from './integrity.js';

/*
 * Recording off the relay's thread. The relay hands each session's output and input to a
 * CastWriter; with a pool (the daemon's), the writer is a stand-in that copies the bytes of one
 * turn of the event loop into one buffer and transfers it to a worker thread, where the
 * AsciicastWriter does everything per byte: UTF-8 splitting, JSON encoding, the byte-exact
 * sidecar, both SHA-256 passes, CRCs, signed checkpoints and the file writes. The relay's thread
 * keeps one memcpy per chunk and one postMessage per turn.
 *
 * Backpressure stays per session and bounded: bytes handed over and not yet acknowledged count
 * against HANDOFF_HIGH_WATER; the worker acknowledges a batch once its writer's queue is below
 * its own low-water mark, so a slow disk pauses that session's relay, and nothing else.
 */

/** What a session's recording writes through: the AsciicastWriter itself, or its worker stand-in. */
export interface CastWriter {
  readonly file: string;
  /** Time 0 of the events (epoch ms). */
  readonly startTime: number;
  /** The first failed write, if any. */
  readonly error: Error | undefined;
  /** `at`: when the relay passed the bytes (epoch ms). False: pause the source until onceDrained(). */
  output(data: Buffer, at?: number): boolean;
  input(data: Buffer, at?: number): boolean;
  onceDrained(cb: () => void): void;
  resize(cols: number, rows: number, at?: number): void;
  marker(label: string, at?: number): void;
  close(): Promise<WriterTotals>;
  /** Bytes given so far (output, input), as the relay counted them: what is known if close() fails. */
  given(): { out: number; in: number };
}

/** Where recordings are written: worker threads, or this thread when there are none. */
export interface WriterPool {
  /** Creates the files (header, signed first checkpoint); rejects as the writer's constructor throws. */
  open(file: string, header: AsciicastHeader, options: WriterOptions): Promise<CastWriter>;
  /** Stops the workers; writers still open fail (the daemon closes sessions before this). */
  close(): Promise<void>;
}

/** Bytes handed to the worker and not yet acknowledged past which the relay pauses the session. */
export const HANDOFF_HIGH_WATER = 4 * 1024 * 1024;
/** A turn's batch is handed over early once it holds this much. */
const BATCH_BYTES = 1024 * 1024;

/** The options a worker can take: the functions become messages, the signer its key. */
export type WorkerWriterOptions = Omit<WriterOptions, 'now' | 'onError' | 'onLimit' | 'onWritten' | 'integrity'> & {
  integrity?: { session: string; fingerprint: string; checkpointIntervalMs?: number; key: KeyObject; publicBlob: Buffer; identity: string; namespace: string };
};

/** One event of a batch; output and input bytes are `n` bytes of the batch's buffer, in order. */
export type BatchEvent = { c: 'o' | 'i'; t: number; n: number } | { c: 'r'; t: number; cols: number; rows: number } | { c: 'm'; t: number; label: string };

export type ToWriterWorker =
  | { op: 'open'; id: number; file: string; header: AsciicastHeader; options: WorkerWriterOptions }
  | { op: 'events'; id: number; events: BatchEvent[]; data: ArrayBuffer | undefined; bytes: number }
  | { op: 'close'; id: number };

export interface WireTotals {
  out: { bytes: number; sha256: string };
  in: { bytes: number; sha256: string };
  file: { bytes: number; sha256: Uint8Array | undefined };
  sealed: { bytes: number; chain: string } | undefined;
}

export type FromWriterWorker =
  | { op: 'opened'; id: number; error?: { message: string; code?: string } }
  | { op: 'ack'; id: number; bytes: number }
  | { op: 'written'; id: number; bytes: number; lagMs: number }
  | { op: 'checkpoint'; id: number; checkpoint: Checkpoint }
  | { op: 'error'; id: number; message: string; code?: string }
  | { op: 'closed'; id: number; totals?: WireTotals; error?: string };

/** Recording in this thread (unit tests, and sources run without the build). */
export const inThreadWriters: WriterPool = {
  open: async (file, header, options) => new AsciicastWriter(file, header, options),
  close: async () => {},
};

function errorFrom(e: { message: string; code?: string }): Error {
  return Object.assign(new Error(e.message), e.code ? { code: e.code } : {});
}

interface Thread {
  worker: Worker;
  writers: Map<number, RemoteWriter>;
  dead: Error | undefined;
}

/**
 * The daemon's recording workers: `size` threads (default: the machine's cores, at most 4),
 * started with the daemon; each new recording goes to the one with the fewest open. A worker
 * that dies fails the recordings it had (their sessions end with the reason, as on a disk
 * error) and is replaced for the next session. Where the worker script is not built (sources run
 * by unit tests), recording stays in this thread.
 */
export function createWriterPool(log: Logger, size = Math.min(4, os.availableParallelism())): WriterPool {
  const script = builtWorkerScript(new URL('./writer-worker.js', import.meta.url));
  if (!script) {
    log.warn('recordings are written on the relay\'s thread: the worker script is not built', { component: 'recording' });
    return inThreadWriters;
  }
  let ids = 0;
  let stopping = false;
  const threads: Thread[] = [];
  const opening = new Map<number, { resolve: (w: RemoteWriter) => void; reject: (e: Error) => void; writer: RemoteWriter }>();

  const start = (): Thread => {
    const worker = new Worker(script);
    const t: Thread = { worker, writers: new Map(), dead: undefined };
    worker.on('message', (m: FromWriterWorker) => {
      if (m.op === 'opened') {
        const o = opening.get(m.id);
        opening.delete(m.id);
        if (!o) return;
        if (m.error) {
          t.writers.delete(m.id);
          o.reject(errorFrom(m.error));
        } else o.resolve(o.writer);
        return;
      }
      t.writers.get(m.id)?.receive(m);
    });
    const died = (err: Error) => {
      if (t.dead) return;
      t.dead = err;
      const i = threads.indexOf(t);
      if (i !== -1) threads.splice(i, 1);
      if (!stopping) log.error('a recording worker failed; its sessions end', { component: 'recording', error: err.message, sessions: t.writers.size });
      for (const [id, w] of t.writers) {
        opening.get(id)?.reject(err);
        opening.delete(id);
        w.workerDied(err);
      }
      t.writers.clear();
    };
    worker.on('error', (err) => died(err));
    worker.on('exit', (code) => died(new Error(`the recording worker exited (${code})`)));
    threads.push(t);
    return t;
  };
  for (let i = 0; i < size; i++) start();

  return {
    async open(file, header, options) {
      if (stopping) throw new Error('the daemon is stopping');
      const signer = options.integrity?.signer;
      // A signer without its key (a test's fake) can only sign in this thread.
      if (options.integrity && !signer?.key) return new AsciicastWriter(file, header, options);
      while (threads.length < size) start();
      const t = threads.reduce((a, b) => (b.writers.size < a.writers.size ? b : a));
      const id = ++ids;
      const startTime = options.startTime ?? performance.timeOrigin + performance.now();
      const { now: _now, onError: _e, onLimit: _l, onWritten: _w, integrity, ...plain } = options;
      const wire: WorkerWriterOptions = {
        ...plain,
        startTime,
        ...(integrity && signer?.key
          ? {
              integrity: {
                session: integrity.session,
                fingerprint: integrity.fingerprint,
                ...(integrity.checkpointIntervalMs !== undefined ? { checkpointIntervalMs: integrity.checkpointIntervalMs } : {}),
                key: signer.key,
                publicBlob: signer.publicBlob,
                identity: signer.identity,
                namespace: signer.namespace,
              },
            }
          : {}),
      };
      const writer = new RemoteWriter(id, file, startTime, t, options);
      t.writers.set(id, writer);
      return new Promise<CastWriter>((resolve, reject) => {
        opening.set(id, { resolve, reject, writer });
        t.worker.postMessage({ op: 'open', id, file, header, options: wire } satisfies ToWriterWorker);
      });
    },
    async close() {
      stopping = true;
      await Promise.all(threads.splice(0).map((t) => t.worker.terminate()));
    },
  };
}

/** A session's writer in a worker, as the relay's thread sees it. */
class RemoteWriter implements CastWriter {
  private events: BatchEvent[] = [];
  private parts: Buffer[] = [];
  private batchBytes = 0;
  /** Handed over, not yet acknowledged. */
  private inFlight = 0;
  private scheduled = false;
  private waiters: Array<() => void> = [];
  private outBytes = 0;
  private inBytes = 0;
  private limitReached = false;
  private closing: Promise<WriterTotals> | undefined;
  private closed: { resolve: (t: WriterTotals) => void; reject: (e: Error) => void } | undefined;
  error: Error | undefined;

  constructor(
    private readonly id: number,
    readonly file: string,
    readonly startTime: number,
    private readonly thread: Thread,
    private readonly o: WriterOptions,
  ) {}

  private now(): number {
    return performance.timeOrigin + performance.now();
  }

  output(data: Buffer, at?: number): boolean {
    return this.bytes('o', data, at);
  }

  input(data: Buffer, at?: number): boolean {
    return this.bytes('i', data, at);
  }

  private bytes(c: 'o' | 'i', data: Buffer, at: number | undefined): boolean {
    if (this.closing) return true;
    if (data.length > 0) {
      this.events.push({ c, t: at ?? this.now(), n: data.length });
      this.parts.push(data);
      this.batchBytes += data.length;
      this.schedule();
      if (c === 'i') this.inBytes += data.length;
      // Told here, in the relay's turn, not when the worker gets to it: the session must end
      // before it can move on far past the limit (the worker writes its marker in the recording).
      if (c === 'o' && (this.outBytes += data.length) > (this.o.maxOutputBytes || Infinity) && !this.limitReached) {
        this.limitReached = true;
        this.o.onLimit?.(this.o.maxOutputBytes!);
      }
    }
    return this.error !== undefined || this.inFlight + this.batchBytes < HANDOFF_HIGH_WATER;
  }

  given(): { out: number; in: number } {
    return { out: this.outBytes, in: this.inBytes };
  }

  resize(cols: number, rows: number, at?: number): void {
    if (this.closing) return;
    this.events.push({ c: 'r', t: at ?? this.now(), cols, rows });
    this.schedule();
  }

  marker(label: string, at?: number): void {
    if (this.closing) return;
    this.events.push({ c: 'm', t: at ?? this.now(), label });
    this.schedule();
  }

  onceDrained(cb: () => void): void {
    if (this.error || this.closing || this.inFlight + this.batchBytes < HANDOFF_HIGH_WATER / 2) cb();
    else this.waiters.push(cb);
  }

  private schedule(): void {
    if (this.batchBytes >= BATCH_BYTES) return this.handOver();
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => this.handOver());
  }

  /** One message for what this turn gathered: the bytes copied once into a buffer that is moved, not cloned. */
  private handOver(): void {
    this.scheduled = false;
    if (this.events.length === 0 || this.thread.dead) return;
    let data: ArrayBuffer | undefined;
    const bytes = this.batchBytes;
    if (bytes > 0) {
      // Its own ArrayBuffer (not the shared pool's), so it can be transferred; ssh2's chunks are
      // views into buffers it reuses, so they are copied, not moved.
      const buf = Buffer.allocUnsafeSlow(bytes);
      let off = 0;
      for (const p of this.parts) off += p.copy(buf, off);
      data = buf.buffer as ArrayBuffer;
    }
    const events = this.events;
    this.events = [];
    this.parts = [];
    this.batchBytes = 0;
    this.inFlight += bytes;
    const m: ToWriterWorker = { op: 'events', id: this.id, events, data, bytes };
    this.thread.worker.postMessage(m, data ? [data] : []);
  }

  /** @internal a message from this writer's worker. */
  receive(m: FromWriterWorker): void {
    switch (m.op) {
      case 'ack':
        this.inFlight -= m.bytes;
        if (this.inFlight + this.batchBytes < HANDOFF_HIGH_WATER / 2) this.wake();
        return;
      case 'written':
        try {
          this.o.onWritten?.(m.bytes, m.lagMs);
        } catch {
          // a metrics observer's failure is not the recording's
        }
        return;
      case 'checkpoint':
        this.o.integrity?.onCheckpoint?.(m.checkpoint);
        return;
      case 'error':
        this.fail(errorFrom(m));
        return;
      case 'closed':
        this.thread.writers.delete(this.id);
        if (m.totals) {
          const t = m.totals;
          this.closed?.resolve({ ...t, file: { bytes: t.file.bytes, sha256: t.file.sha256 ? Buffer.from(t.file.sha256) : undefined } });
        } else this.closed?.reject(new Error(m.error ?? 'the recording could not be closed'));
        return;
    }
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const cb of w) cb();
  }

  private fail(err: Error): void {
    if (this.error) return;
    this.error = err;
    this.wake();
    this.o.onError?.(err);
  }

  /** @internal its worker is gone: the recording cannot go on, and cannot be closed. */
  workerDied(err: Error): void {
    this.fail(err);
    this.closed?.reject(err);
  }

  close(): Promise<WriterTotals> {
    this.closing ??= new Promise<WriterTotals>((resolve, reject) => {
      if (this.thread.dead) return reject(this.thread.dead);
      this.closed = { resolve, reject };
      this.handOver();
      this.thread.worker.postMessage({ op: 'close', id: this.id } satisfies ToWriterWorker);
      this.wake();
    });
    return this.closing;
  }
}
