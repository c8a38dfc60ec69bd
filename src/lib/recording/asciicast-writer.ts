import crypto from 'node:crypto';
import fs from 'node:fs';
import { BIN_BLOCK_MAX, BinBlockEncoder, binMarker, binPath, type StreamCode, Utf8Splitter } from './binary-sidecar.js';
import { ChainWriter, chainPath, type Checkpoint, type RecordingSigner } from './integrity.js';
import { escapedMax, writeJsonText } from './json-text.js';

/*
 * asciicast v2 (https://docs.asciinema.org/manual/asciicast/v2/): newline-delimited JSON.
 *   line 1   header  {"version": 2, "width": W, "height": H, "timestamp": UNIX_SECONDS, "env": {...}, ...}
 *   line 2+  event   [TIME_SECONDS_FLOAT, CODE, DATA]   CODE: "o" output, "i" input, "r" resize ("COLSxROWS"), "m" marker
 * Byte-exact: valid UTF-8 is written as text events (a character split across reads is kept
 * whole), and a read that is not valid UTF-8 goes to the sidecar `ID.cast.bin` with a marker
 * event in its place (binary-sidecar.ts), so every byte of both streams can be rebuilt
 * (`tsh play --format=raw`) and checked against the session index's SHA-256.
 *
 * Writes are batched off the relay's hot path: events are appended to an in-memory buffer and
 * written with one async `fs.write` when it is large or a flush timer fires, so a crash loses at
 * most `flushIntervalMs` of a session (plus what the write queue holds, bounded by highWaterBytes).
 */
export interface AsciicastHeader {
  width: number;
  height: number;
  timestamp: number;
  title?: string;
  command?: string;
  env?: Record<string, string>;
  /**
   * Who and what the recording is of (extra header keys, which asciicast v2 players ignore), so a
   * `.cast` read on its own names its session: a copy filed under another id reads as altered.
   */
  session?: string;
  user?: string;
  login?: string;
  node?: string;
  /** ISO 8601 start time. */
  started_at?: string;
  /**
   * Whether the channel had a terminal. Players use it for input: PTY keystrokes are echoed by
   * the remote terminal (so text playback leaves them out), non-PTY input is the command's stdin.
   */
  pty?: boolean;
}

export interface WriterOptions {
  flushIntervalMs?: number;
  /** Flush as soon as this many bytes are pending. */
  flushBytes?: number;
  /**
   * Output size (non-PTY exec) past which `onLimit` is called, once; 0 = unlimited. Output is
   * never dropped: every byte given is recorded, and the caller ends the session (recording is
   * mandatory, so nothing may go on unrecorded).
   */
  maxOutputBytes?: number;
  onLimit?: (limit: number) => void;
  recordInput?: boolean;
  now?: () => number;
  /**
   * Time 0 of the events (epoch ms, sub-millisecond; default now()): the recorder's worker thread
   * is given the relay's, so the times the relay stamps events with mean the same in both threads.
   */
  startTime?: number;
  /** Called once, on the first failed write (disk full...): recording is mandatory, so the caller ends the session. */
  onError?: (err: Error) => void;
  /** Keeps the hash chain and signed checkpoints in `FILE.chain` (see integrity.ts). */
  integrity?: { session: string; signer: RecordingSigner; fingerprint: string; checkpointIntervalMs?: number; onCheckpoint?: (c: Checkpoint) => void };
  /** Bytes written but not yet on disk above which output() asks the relay to pause. */
  highWaterBytes?: number;
  /** After each write reaches the file: its bytes (.cast, .bin and .chain) and how long it waited in the queue (metrics). */
  onWritten?: (bytes: number, lagMs: number) => void;
}

export interface StreamTotals {
  bytes: number;
  sha256: string;
}

export interface WriterTotals {
  out: StreamTotals;
  in: StreamTotals;
  /** Bytes of the file and their SHA-256 (the detached signature's message hash), when integrity is on. */
  file: { bytes: number; sha256: Buffer | undefined };
  sealed: { bytes: number; chain: string } | undefined;
}

/**
 * Pending event bytes past which a flush starts at once (the timer flushes the rest). Large enough
 * that bulk output costs one write and one chain record per this many bytes, not per read; a
 * crash still loses at most a flush interval, since the timer flushes far smaller amounts.
 */
export const FLUSH_BYTES = 512 * 1024;

/**
 * The event lines of the next flush, written straight into one buffer (no string per event, no
 * join): what a flush hands to the write queue as is.
 */
class LineBuffer {
  private buf = EMPTY;
  /** What the next buffer is sized for: about what the last flush held (an idle session holds little). */
  private hint = LINE_BUFFER_MIN;
  bytes = 0;
  events = 0;

  constructor(private readonly flushBytes: number) {}

  private room(n: number): void {
    if (this.bytes + n <= this.buf.length) return;
    const bigger = Buffer.allocUnsafe(Math.max(this.hint, 2 * this.buf.length, this.bytes + n));
    this.buf.copy(bigger, 0, 0, this.bytes);
    this.buf = bigger;
  }

  line(text: string): void {
    this.room(Buffer.byteLength(text));
    this.bytes += this.buf.write(text, this.bytes);
    this.events++;
  }

  /**
   * `[TIME,"CODE","TEXT"]\n`, as JSON.stringify would write it, from valid UTF-8 bytes. Escaped
   * in slices that fit the room left (escaping is byte by byte, so any cut is fine): room for the
   * worst case, six bytes a byte, would grow the buffer at nearly every flush of bulk text.
   */
  text(time: number, code: StreamCode, text: Buffer): void {
    const head = `[${JSON.stringify(time)},"${code}","`;
    this.room(head.length + 3 + escapedMax(Math.min(text.length, TEXT_SLICE)));
    this.bytes += this.buf.write(head, this.bytes, 'latin1');
    // Bounded: each pass writes at least min(TEXT_SLICE, what is left) bytes of the text, or makes room for that.
    for (let i = 0; i < text.length; ) {
      const fit = Math.floor((this.buf.length - this.bytes - 3) / 6);
      const want = Math.min(TEXT_SLICE, text.length - i);
      if (fit < want) {
        this.room(escapedMax(want) + 3);
        continue;
      }
      const end = Math.min(text.length, i + fit);
      this.bytes = writeJsonText(text.subarray(i, end), this.buf, this.bytes);
      i = end;
    }
    this.buf[this.bytes++] = 0x22;
    this.buf[this.bytes++] = 0x5d;
    this.buf[this.bytes++] = 0x0a;
    this.events++;
  }

  /**
   * The lines so far; the write queue owns these bytes now. A small flush (a keystroke's echo) is
   * copied out of the buffer, which is kept for the next lines; a large one takes the buffer.
   */
  take(): { data: Buffer; events: number } {
    const used = this.buf.subarray(0, this.bytes);
    const taken = { data: this.bytes <= SMALL_FLUSH ? Buffer.from(used) : used, events: this.events };
    if (this.bytes > SMALL_FLUSH) {
      this.hint = Math.min(this.flushBytes + LINE_BUFFER_SLACK, Math.max(LINE_BUFFER_MIN, this.bytes + (this.bytes >> 2)));
      this.buf = EMPTY;
    }
    this.bytes = 0;
    this.events = 0;
    return taken;
  }
}

const EMPTY = Buffer.alloc(0);
const LINE_BUFFER_MIN = 16 * 1024;
/** Room past flushBytes, so the event that crosses it usually fits without a copy. */
const LINE_BUFFER_SLACK = 64 * 1024;
/** Text escaped per pass at most (LineBuffer.text). */
const TEXT_SLICE = 8 * 1024;
/** Flushes up to this size are copied (from Buffer's shared pool) and the line buffer is reused. */
const SMALL_FLUSH = 4 * 1024;

/**
 * Writes go through one ordered queue of async writes (the syscalls run on libuv's threads, not
 * the relay's): the `.cast` bytes of a flush first, then the sidecar records covering them, so a
 * checkpoint never covers bytes that are not in the file yet.
 */
export class AsciicastWriter {
  private readonly fd: number;
  private readonly chainFd: number;
  /** Event lines (each with its "\n") not yet flushed, as the bytes they are written as. */
  private pending: LineBuffer;
  private timer: NodeJS.Timeout;
  private readonly start: number;
  private readonly out = new Utf8Splitter();
  private readonly inp = new Utf8Splitter();
  /** Consecutive binary reads of one stream, not yet behind a marker. */
  private bin: { stream: StreamCode; parts: Buffer[]; bytes: number; time: number } | undefined;
  /** Closed blocks waiting for the next flush, written to the `.bin` before the lines that mark them. */
  private binBlocks: Array<{ stream: StreamCode; parts: Buffer[]; bytes: number }> = [];
  private binCount = 0;
  private binFd = -1;
  private readonly binEncoder = new BinBlockEncoder();
  private pendingBin = 0;
  private readonly hashOut = crypto.createHash('sha256');
  private readonly hashIn = crypto.createHash('sha256');
  private fileBytes = 0;
  private bytesOut = 0;
  private bytesIn = 0;
  private limitReached = false;
  private closed = false;
  private writeError: Error | undefined;
  private lastTime = 0;
  private readonly chain: ChainWriter | undefined;
  /** The tail of the write queue, and how many bytes are queued in it. */
  private queue: Promise<void> = Promise.resolve();
  private queuedBytes = 0;
  private drainWaiters: Array<() => void> = [];
  private closing: Promise<WriterTotals> | undefined;
  private readonly o: Required<Omit<WriterOptions, 'now' | 'onError' | 'onLimit' | 'integrity' | 'onWritten' | 'startTime'>> & {
    now: () => number;
    onError?: (err: Error) => void;
    onLimit?: (limit: number) => void;
    onWritten?: (bytes: number, lagMs: number) => void;
  };

  constructor(readonly file: string, header: AsciicastHeader, options: WriterOptions = {}) {
    this.o = {
      flushIntervalMs: options.flushIntervalMs ?? 250,
      flushBytes: options.flushBytes ?? FLUSH_BYTES,
      maxOutputBytes: options.maxOutputBytes ?? 0,
      recordInput: options.recordInput ?? false,
      highWaterBytes: options.highWaterBytes ?? 8 * 1024 * 1024,
      now: options.now ?? (() => performance.timeOrigin + performance.now()),
      onError: options.onError,
      onLimit: options.onLimit,
      onWritten: options.onWritten,
    };
    this.start = options.startTime ?? this.o.now();
    this.pending = new LineBuffer(this.o.flushBytes);
    this.fd = fs.openSync(file, 'wx', 0o600);
    this.chainFd = -1;
    const head: Record<string, unknown> = { version: 2, width: header.width, height: header.height, timestamp: header.timestamp };
    if (header.title) head.title = header.title;
    if (header.command) head.command = header.command;
    if (header.env) head.env = header.env;
    for (const k of ['session', 'user', 'login', 'node', 'started_at', 'pty'] as const) if (header[k] !== undefined) head[k] = header[k];
    const headLine = `${JSON.stringify(head)}\n`;
    const headBytes = Buffer.from(headLine);
    try {
      fs.writeSync(this.fd, headBytes);
      if (options.integrity) {
        const i = options.integrity;
        // Append-only and exclusive: a second writer (or a recovery racing this one) cannot interleave.
        this.chainFd = fs.openSync(chainPath(file), 'ax', 0o644);
        this.chain = new ChainWriter(i.session, i.signer, i.checkpointIntervalMs ?? 2000, this.o.now, i.onCheckpoint);
        // Signed at once, so even a session that crashes in its first second names its header.
        const side = ChainWriter.header(i.session, i.fingerprint) + this.chain.link(1, headBytes, 0) + this.chain.checkpoint('cp');
        fs.writeSync(this.chainFd, side);
      }
    } catch (err) {
      fs.closeSync(this.fd);
      if (this.chainFd >= 0) fs.closeSync(this.chainFd);
      throw err;
    }
    this.fileBytes += headBytes.length;
    this.timer = setInterval(() => this.flush(), this.o.flushIntervalMs);
    this.timer.unref();
  }

  /** When event time 0 is, in the writer's clock (epoch ms, sub-millisecond): what other views of the session align to. */
  get startTime(): number {
    return this.start;
  }

  /** Seconds since time 0 of the event stamped `at` (epoch ms; default now), to the millisecond. */
  private elapsed(at?: number): number {
    return Math.round((at ?? this.o.now()) - this.start) / 1000;
  }

  private push(code: string, data: string, time?: number): void {
    if (this.closed) return;
    // A binary block's marker comes before any later event: .cast order is stream order.
    if (this.bin) this.closeBin();
    this.lastTime = time ?? this.elapsed();
    this.pending.line(`${JSON.stringify([this.lastTime, code, data])}\n`);
    if (this.pending.bytes >= this.o.flushBytes) this.flush();
  }

  /** A text event from bytes that are valid UTF-8 (Utf8Splitter.cut), encoded without decoding them (json-text.ts). */
  private pushText(code: StreamCode, text: Buffer, time: number): void {
    if (this.closed) return;
    if (this.bin) this.closeBin();
    this.lastTime = time;
    this.pending.text(time, code, text);
    if (this.pending.bytes >= this.o.flushBytes) this.flush();
  }

  /**
   * Bytes the remote side wrote to the terminal (counted, hashed and recorded, all of them).
   * Past `maxOutputBytes` it calls `onLimit` once, after recording the chunk that crossed it.
   * Returns false when the disk is behind: pause the source until onceDrained().
   * `at`: when the relay passed the bytes (epoch ms; default now).
   */
  output(data: Buffer, at?: number): boolean {
    this.record('o', data, at);
    if (this.o.maxOutputBytes && !this.limitReached && this.bytesOut > this.o.maxOutputBytes) {
      this.limitReached = true;
      this.push('m', `recording limit reached: ${this.bytesOut} bytes of output, over auth_service.max_exec_recording_size (${this.o.maxOutputBytes}); the session is ended`, this.elapsed(at));
      this.o.onLimit?.(this.o.maxOutputBytes);
    }
    return this.queuedBytes < this.o.highWaterBytes;
  }

  /** Bytes the client sent (keystrokes, or a non-PTY command's stdin); recorded with `recordInput`, always counted and hashed. */
  input(data: Buffer, at?: number): boolean {
    if (this.o.recordInput) this.record('i', data, at);
    else {
      this.hashIn.update(data);
      this.bytesIn += data.length;
    }
    return this.queuedBytes < this.o.highWaterBytes;
  }

  /**
   * One read of a stream: counted, hashed, and written as text or as binary. A binary block's
   * marker carries the stream's hash up to the block's end, so the block is closed before the
   * hash moves past it.
   */
  private record(stream: StreamCode, data: Buffer, at?: number): void {
    if (this.closed) return;
    const piece = (stream === 'o' ? this.out : this.inp).cut(data);
    if (this.bin && (this.bin.stream !== stream || !piece || piece.text || this.bin.bytes + piece.bytes.length > BIN_BLOCK_MAX)) this.closeBin();
    if (stream === 'o') {
      this.hashOut.update(data);
      this.bytesOut += data.length;
    } else {
      this.hashIn.update(data);
      this.bytesIn += data.length;
    }
    if (piece?.text) this.pushText(stream, piece.bytes, this.elapsed(at));
    else if (piece) this.addBin(stream, piece.bytes, at);
  }

  private addBin(stream: StreamCode, data: Buffer, at?: number): void {
    // record() has closed a block this read does not belong in (before hashing it); the tails at close differ in stream.
    if (this.bin && this.bin.stream !== stream) this.closeBin();
    this.bin ??= { stream, parts: [], bytes: 0, time: this.elapsed(at) };
    this.bin.parts.push(data);
    this.bin.bytes += data.length;
    // Held in memory until the flush: counted against the same high-water mark as queued writes.
    this.queuedBytes += data.length;
    // Text flushes by its own size (push); binary must too, or the relay, paused at the high-water
    // mark, would wait for the 250 ms timer each time (/dev/zero through the proxy ran at 30 MB/s).
    if (this.pendingBin + this.bin.bytes >= BIN_BLOCK_MAX) this.flush();
  }

  /** Closes the open binary block: queues its bytes for the `.bin` and its marker for the `.cast`. */
  private closeBin(): void {
    const b = this.bin;
    if (!b) return;
    this.bin = undefined;
    const hash = (b.stream === 'o' ? this.hashOut : this.hashIn).copy().digest('hex');
    this.binBlocks.push({ stream: b.stream, parts: b.parts, bytes: b.bytes });
    this.pendingBin += b.bytes;
    this.push('m', binMarker(b.stream, b.bytes, this.binCount++, hash), b.time);
  }

  /** Bytes given so far (output, input), recorded or not. */
  given(): { out: number; in: number } {
    return { out: this.bytesOut, in: this.bytesIn };
  }

  /** Calls back once the write queue is below half the high-water mark (or at once). */
  onceDrained(cb: () => void): void {
    if (this.queuedBytes < this.o.highWaterBytes / 2 || this.writeError || this.closed) cb();
    else this.drainWaiters.push(cb);
  }

  resize(cols: number, rows: number, at?: number): void {
    this.push('r', `${cols}x${rows}`, this.elapsed(at));
  }

  marker(label: string, at?: number): void {
    this.push('m', label, this.elapsed(at));
  }

  /**
   * Queues what is pending, linked into the hash chain, with a signed checkpoint when one is due.
   * After the first failed write nothing more is written: bytes past the last checkpoint stay
   * unverified rather than being signed. Errors are reported once (recording is mandatory).
   */
  flush(): void {
    if (this.writeError || this.closed) return;
    this.closeBin();
    if (this.pending.events === 0) {
      const cp = this.chain?.maybeCheckpoint();
      if (cp) this.enqueue(undefined, cp);
      return;
    }
    const { data, events } = this.pending.take();
    const blocks = this.binBlocks;
    this.binBlocks = [];
    const binBytes = this.pendingBin;
    this.pendingBin = 0;
    // Counted since they arrived (addBin); enqueue counts them again until they are written.
    this.queuedBytes -= binBytes;
    this.fileBytes += data.length;
    const side = this.chain ? this.chain.link(events, data, this.lastTime) + this.chain.maybeCheckpoint() : undefined;
    this.enqueue(data, side, blocks, binBytes);
  }

  private enqueue(data: Buffer | undefined, side: string | undefined, blocks: Array<{ stream: StreamCode; parts: Buffer[]; bytes: number }> = [], binBytes = 0): void {
    const size = (data?.length ?? 0) + (side?.length ?? 0) + binBytes;
    this.queuedBytes += size;
    const queuedAt = performance.now();
    this.queue = this.queue.then(async () => {
      if (this.writeError) return;
      try {
        // The .bin blocks first, then the .cast lines that mark them.
        for (const b of blocks) {
          // Opened at the first binary block: a recording without one has no .bin.
          if (this.binFd < 0) this.binFd = fs.openSync(binPath(this.file), 'ax', 0o600);
          await writeAll(this.binFd, Buffer.concat(await this.binEncoder.encode(b.stream, b.parts, b.bytes)));
        }
        if (data) await writeAll(this.fd, data);
        if (side) await writeAll(this.chainFd, Buffer.from(side));
        this.reportWritten(size, performance.now() - queuedAt);
      } catch (err) {
        this.fail(err as Error);
      } finally {
        this.queuedBytes -= size;
        if (this.queuedBytes < this.o.highWaterBytes / 2 && this.drainWaiters.length) this.wakeDrainWaiters();
      }
    });
  }

  /** An observer (metrics) that throws must not look like a failed write and end the session. */
  private reportWritten(bytes: number, lagMs: number): void {
    try {
      this.o.onWritten?.(bytes, lagMs);
    } catch {
      // counted nowhere; the recording itself is fine
    }
  }

  private wakeDrainWaiters(): void {
    const waiters = this.drainWaiters;
    this.drainWaiters = [];
    for (const w of waiters) w();
  }

  private fail(err: Error): void {
    if (this.writeError) return;
    this.writeError = err;
    this.wakeDrainWaiters();
    this.o.onError?.(err);
  }

  /** A write failure so far (disk full, ...), if any. */
  get error(): Error | undefined {
    return this.writeError;
  }

  /** Everything queued so far is on disk (or failed). */
  settled(): Promise<void> {
    return this.queue;
  }

  /** Ends the recording: flushes decoders and pending events, seals, fsyncs, closes. Returns exact totals. */
  close(): Promise<WriterTotals> {
    this.closing ??= this.doClose();
    return this.closing;
  }

  private async doClose(): Promise<WriterTotals> {
    // An incomplete character left at the end is binary (it never became one).
    const tailOut = this.out.end();
    if (tailOut) this.addBin('o', tailOut);
    const tailIn = this.inp.end();
    if (tailIn) this.addBin('i', tailIn);
    this.flush();
    if (this.chain && !this.writeError) this.enqueue(undefined, this.chain.checkpoint('complete'));
    this.closed = true;
    clearInterval(this.timer);
    await this.queue;
    for (const fd of [this.fd, this.chainFd, this.binFd]) {
      if (fd < 0) continue;
      // fsync is best effort (some filesystems refuse it); async, so other sessions do not wait.
      await new Promise<void>((resolve) => fs.fsync(fd, () => resolve()));
      await new Promise<void>((resolve) => fs.close(fd, () => resolve()));
    }
    return {
      out: { bytes: this.bytesOut, sha256: this.hashOut.copy().digest('hex') },
      in: { bytes: this.bytesIn, sha256: this.hashIn.copy().digest('hex') },
      file: { bytes: this.fileBytes, sha256: this.chain?.digest() },
      sealed: this.writeError ? undefined : this.chain?.sealed,
    };
  }
}

/** One positional-free write of a whole buffer on libuv's pool (loops on short writes). */
function writeAll(fd: number, data: Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    const step = (off: number) => {
      fs.write(fd, data, off, data.length - off, null, (err, n) => {
        if (err) return reject(err);
        if (off + n < data.length) step(off + n);
        else resolve();
      });
    };
    step(0);
  });
}
