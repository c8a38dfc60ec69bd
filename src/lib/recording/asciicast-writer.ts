import crypto from 'node:crypto';
import fs from 'node:fs';
import { StringDecoder } from 'node:string_decoder';
import { ChainWriter, chainPath, type RecordingSigner } from './integrity.js';

/*
 * asciicast v2 (https://docs.asciinema.org/manual/asciicast/v2/): newline-delimited JSON.
 *   line 1   header  {"version": 2, "width": W, "height": H, "timestamp": UNIX_SECONDS, "env": {...}, ...}
 *   line 2+  event   [TIME_SECONDS_FLOAT, CODE, DATA]   CODE: "o" output, "i" input, "r" resize ("COLSxROWS"), "m" marker
 * Output is decoded as UTF-8 the way asciinema does (a character split across reads is kept
 * whole; invalid bytes become U+FFFD). The exact bytes are accounted for by the SHA-256 and byte
 * counts, which the session index keeps.
 *
 * Writes are batched off the relay's hot path: events are appended to an in-memory buffer and
 * written with one `fs.write` when it is large or a flush timer fires, so a crash loses at most
 * `flushIntervalMs` of a session.
 */
export interface AsciicastHeader {
  width: number;
  height: number;
  timestamp: number;
  title?: string;
  command?: string;
  env?: Record<string, string>;
}

export interface WriterOptions {
  flushIntervalMs?: number;
  /** Flush as soon as this many bytes are pending. */
  flushBytes?: number;
  /** Record no more output than this many bytes (non-PTY exec); 0 = unlimited. */
  maxOutputBytes?: number;
  recordInput?: boolean;
  now?: () => number;
  /** Called once, on the first failed write (disk full...): recording is mandatory, so the caller ends the session. */
  onError?: (err: Error) => void;
  /** Keeps the hash chain and signed checkpoints in `FILE.chain` (see integrity.ts). */
  integrity?: { session: string; signer: RecordingSigner; fingerprint: string; checkpointIntervalMs?: number };
}

export interface StreamTotals {
  bytes: number;
  sha256: string;
}

export class AsciicastWriter {
  private fd: number;
  private pending: string[] = [];
  private pendingBytes = 0;
  private timer: NodeJS.Timeout;
  private readonly start: number;
  private readonly out = new StringDecoder('utf8');
  private readonly inp = new StringDecoder('utf8');
  private readonly hashOut = crypto.createHash('sha256');
  private readonly hashIn = crypto.createHash('sha256');
  /** SHA-512 of every byte written to the file, for its detached signature (PROTOCOL.sshsig). */
  private readonly fileHash = crypto.createHash('sha512');
  private fileBytes = 0;
  private bytesOut = 0;
  private bytesIn = 0;
  private recordedOut = 0;
  private dropped = 0;
  private closed = false;
  private writeError: Error | undefined;
  private lastTime = 0;
  private readonly chain: ChainWriter | undefined;
  private readonly o: Required<Omit<WriterOptions, 'now' | 'onError' | 'integrity'>> & { now: () => number; onError?: (err: Error) => void };

  constructor(readonly file: string, header: AsciicastHeader, options: WriterOptions = {}) {
    this.o = {
      flushIntervalMs: options.flushIntervalMs ?? 250,
      flushBytes: options.flushBytes ?? 64 * 1024,
      maxOutputBytes: options.maxOutputBytes ?? 0,
      recordInput: options.recordInput ?? false,
      now: options.now ?? (() => performance.timeOrigin + performance.now()),
      onError: options.onError,
    };
    this.start = this.o.now();
    this.fd = fs.openSync(file, 'wx', 0o600);
    const head: Record<string, unknown> = { version: 2, width: header.width, height: header.height, timestamp: header.timestamp };
    if (header.title) head.title = header.title;
    if (header.command) head.command = header.command;
    if (header.env) head.env = header.env;
    const headLine = `${JSON.stringify(head)}\n`;
    const headBytes = Buffer.from(headLine);
    try {
      fs.writeSync(this.fd, headBytes);
      if (options.integrity) {
        const i = options.integrity;
        this.chain = new ChainWriter(chainPath(file), i.session, i.signer, i.checkpointIntervalMs ?? 2000, this.o.now, i.fingerprint);
        this.chain.link([headLine], headBytes.length, 0);
        // Signed at once, so even a session that crashes in its first second names its header.
        this.chain.checkpoint('cp');
      }
    } catch (err) {
      fs.closeSync(this.fd);
      throw err;
    }
    this.fileHash.update(headBytes);
    this.fileBytes += headBytes.length;
    this.timer = setInterval(() => this.flush(), this.o.flushIntervalMs);
    this.timer.unref();
  }

  private elapsed(): number {
    return Math.round(this.o.now() - this.start) / 1000;
  }

  private push(code: string, data: string): void {
    if (this.closed) return;
    this.lastTime = this.elapsed();
    const line = `${JSON.stringify([this.lastTime, code, data])}\n`;
    this.pending.push(line);
    this.pendingBytes += line.length;
    if (this.pendingBytes >= this.o.flushBytes) this.flush();
  }

  /** Bytes the remote side wrote to the terminal (always counted and hashed; recorded up to the limit). */
  output(data: Buffer): void {
    this.hashOut.update(data);
    this.bytesOut += data.length;
    let recorded = data;
    if (this.o.maxOutputBytes) {
      const room = Math.max(0, this.o.maxOutputBytes - this.recordedOut);
      if (data.length > room) {
        this.dropped += data.length - room;
        recorded = data.subarray(0, room);
      }
    }
    if (recorded.length === 0) return;
    this.recordedOut += recorded.length;
    const text = this.out.write(recorded);
    if (text) this.push('o', text);
  }

  /** Bytes the user typed; recorded only with record_input, always counted and hashed. */
  input(data: Buffer): void {
    this.hashIn.update(data);
    this.bytesIn += data.length;
    if (!this.o.recordInput) return;
    const text = this.inp.write(data);
    if (text) this.push('i', text);
  }

  resize(cols: number, rows: number): void {
    this.push('r', `${cols}x${rows}`);
  }

  marker(label: string): void {
    this.push('m', label);
  }

  /**
   * Writes what is pending, links it into the hash chain and signs a checkpoint when one is due.
   * After the first failed write nothing more is written: bytes past the last checkpoint stay
   * unverified rather than being signed. Errors are reported once (recording is mandatory).
   */
  flush(): void {
    if (this.fd < 0 || this.writeError) return;
    if (this.pending.length === 0) {
      this.safely(() => this.chain?.maybeCheckpoint());
      return;
    }
    const lines = this.pending;
    this.pending = [];
    this.pendingBytes = 0;
    this.safely(() => {
      const data = Buffer.from(lines.join(''));
      let off = 0;
      while (off < data.length) off += fs.writeSync(this.fd, data, off);
      this.fileHash.update(data);
      this.fileBytes += data.length;
      if (this.chain) {
        this.chain.link(lines, data.length, this.lastTime);
        this.chain.maybeCheckpoint();
      }
    });
  }

  private safely(fn: () => void): void {
    try {
      fn();
    } catch (err) {
      if (!this.writeError) {
        this.writeError = err as Error;
        this.o.onError?.(err as Error);
      }
    }
  }

  /** A write failure so far (disk full, ...), if any. */
  get error(): Error | undefined {
    return this.writeError;
  }

  /** Ends the recording: flushes decoders and pending events, fsyncs, closes. Returns exact totals. */
  close(): { out: StreamTotals; in: StreamTotals; droppedOutput: number; file: { bytes: number; sha512: Buffer }; sealed: { bytes: number; chain: string } | undefined } {
    if (!this.closed) {
      const tailOut = this.out.end();
      if (tailOut) this.push('o', tailOut);
      if (this.o.recordInput) {
        const tailIn = this.inp.end();
        if (tailIn) this.push('i', tailIn);
      }
      if (this.dropped > 0) this.push('m', `output limit reached: ${this.dropped} more bytes were not recorded (auth_service.max_exec_recording_size)`);
      this.flush();
      if (!this.writeError) this.safely(() => this.chain?.checkpoint('complete'));
      this.closed = true;
      this.chain?.close();
      clearInterval(this.timer);
      try {
        fs.fsyncSync(this.fd);
      } catch {
        // fsync is best effort (some filesystems refuse it)
      }
      fs.closeSync(this.fd);
      this.fd = -1;
    }
    return {
      out: { bytes: this.bytesOut, sha256: this.hashOut.copy().digest('hex') },
      in: { bytes: this.bytesIn, sha256: this.hashIn.copy().digest('hex') },
      droppedOutput: this.dropped,
      file: { bytes: this.fileBytes, sha512: this.fileHash.copy().digest() },
      sealed: this.chain?.sealed,
    };
  }
}
