import crypto from 'node:crypto';
import { isUtf8 } from 'node:buffer';
import type { Readable } from 'node:stream';
import zlib from 'node:zlib';
import { badParameter } from '../errors.js';
import { completeEnd } from '../utf8.js';

/*
 * Byte-exact recordings, with the `.cast` kept plain asciicast v2.
 *
 * Valid UTF-8 goes into `"o"`/`"i"` events as text: a character split across reads is carried to
 * the next read (Utf8Splitter), so the UTF-8 encoding of the events' text, concatenated, is the
 * stream's bytes. A read that is not valid UTF-8 (or holds a NUL byte) goes, whole, to the sidecar `ID.cast.bin`, and
 * the `.cast` gets one marker event in its place (consecutive binary reads of one stream share a
 * block of up to 1 MiB):
 *
 *   [TIME, "m", "binary output: N bytes at bin block K; sha256 of the output so far: HEX"]
 *   ("input" for the input stream)
 *
 * HEX is the SHA-256 of the whole stream up to the end of the block (the running hash the session
 * index's sha256_out/sha256_in is the end of), so the signed `.cast` binds every byte of the
 * `.bin` without a second hash pass: a reader rebuilding the stream checks it at every marker.
 *
 * `ID.cast.bin`: append-only blocks, in the order of their markers in the `.cast`:
 *   byte    flags        bit 0: input stream (else output); bit 1: deflate-raw (RFC 1951)
 *   uint32  raw length   (big-endian) bytes of the stream in the block
 *   uint32  stored length
 *   byte[stored length]  the bytes, deflated when that saved at least a tenth
 * A block is written before its marker, so a crash leaves at most a block with no marker.
 */

/** Largest block of binary bytes behind one marker. */
export const BIN_BLOCK_MAX = 1 << 20;
export const BIN_HEADER_BYTES = 9;
const FLAG_INPUT = 1;
const FLAG_DEFLATE = 2;

/** `ID.cast.bin` beside `ID.cast`. */
export function binPath(castFile: string): string {
  return `${castFile}.bin`;
}

export type StreamCode = 'o' | 'i';

/** The marker event's label for a binary block. */
export function binMarker(stream: StreamCode, bytes: number, block: number, sha256Hex: string): string {
  const name = stream === 'o' ? 'output' : 'input';
  return `binary ${name}: ${bytes} bytes at bin block ${block}; sha256 of the ${name} so far: ${sha256Hex}`;
}

const MARKER = /^binary (output|input): (\d+) bytes at bin block (\d+); sha256 of the (?:output|input) so far: ([0-9a-f]{64})$/;

/** A binary block's marker, parsed; undefined for any other marker. */
export function parseBinMarker(label: string): { stream: StreamCode; bytes: number; block: number; sha256: string } | undefined {
  const m = MARKER.exec(label);
  return m ? { stream: m[1] === 'output' ? 'o' : 'i', bytes: Number(m[2]), block: Number(m[3]), sha256: m[4]! } : undefined;
}

/**
 * Splits a byte stream into valid UTF-8 text and binary reads. A trailing incomplete character
 * (at most 3 bytes) is carried to the next read; a read that is not valid UTF-8 is returned whole
 * (with any carry) as a Buffer. Validation is `buffer.isUtf8` (native): no per-byte JS loop.
 */
export class Utf8Splitter {
  private carry: Buffer | undefined;

  write(chunk: Buffer): string | Buffer | undefined {
    const piece = this.cut(chunk);
    return piece?.text ? piece.bytes.toString('utf8') : piece?.bytes;
  }

  /**
   * The same split as write(), without decoding: `text` bytes are valid UTF-8 without NUL (the
   * recorder encodes them as they are), other bytes are binary.
   */
  cut(chunk: Buffer): { text: boolean; bytes: Buffer } | undefined {
    const data = this.carry ? Buffer.concat([this.carry, chunk]) : chunk;
    this.carry = undefined;
    const cut = completeEnd(data);
    const body = cut === data.length ? data : data.subarray(0, cut);
    // NUL is valid UTF-8 but costs 6 bytes in JSON (\u0000) and is no terminal text: a read with
    // one is binary (memchr, not a JS loop), so /dev/zero-like output deflates instead.
    if (body.indexOf(0) !== -1 || !isUtf8(body)) return { text: false, bytes: data };
    if (cut < data.length) this.carry = Buffer.from(data.subarray(cut));
    return body.length ? { text: true, bytes: body } : undefined;
  }

  /** Whatever is left at the end (an incomplete character) is binary. */
  end(): Buffer | undefined {
    const c = this.carry;
    this.carry = undefined;
    return c;
  }
}

const deflateRaw = (data: Buffer) =>
  new Promise<Buffer>((resolve, reject) => zlib.deflateRaw(data, { level: 1 }, (err, out) => (err ? reject(err) : resolve(out))));

/**
 * Encodes blocks for the `.bin`. Deflate runs on libuv's pool (not the relay's thread) and only
 * where it pays: after a block it did not shrink by a tenth, the next 1, 2, 4 ... 64 blocks are
 * stored without trying (random or compressed data costs one try in 64).
 */
export class BinBlockEncoder {
  private skip = 0;
  private misses = 0;

  async encode(stream: StreamCode, parts: Buffer[], bytes: number): Promise<Buffer[]> {
    const raw = parts.length === 1 ? parts[0]! : Buffer.concat(parts, bytes);
    let stored = raw;
    let flags = stream === 'i' ? FLAG_INPUT : 0;
    if (bytes >= 4096) {
      if (this.skip > 0) this.skip--;
      else {
        const z = await deflateRaw(raw);
        if (z.length <= bytes * 0.9) {
          stored = z;
          flags |= FLAG_DEFLATE;
          this.misses = 0;
        } else {
          this.misses = Math.min(this.misses + 1, 6);
          this.skip = 1 << (this.misses - 1);
        }
      }
    }
    const head = Buffer.alloc(BIN_HEADER_BYTES);
    head.writeUInt8(flags, 0);
    head.writeUInt32BE(bytes, 1);
    head.writeUInt32BE(stored.length, 5);
    return [head, stored];
  }
}

/** Reads the `.bin`'s blocks in order from a stream. */
export class BinBlockReader {
  private readonly it: AsyncIterator<Buffer>;
  private buf: Buffer = Buffer.alloc(0);
  private block = 0;

  constructor(source: Readable) {
    this.it = (source as AsyncIterable<Buffer>)[Symbol.asyncIterator]();
  }

  private async take(n: number): Promise<Buffer | undefined> {
    const parts: Buffer[] = [this.buf];
    let have = this.buf.length;
    while (have < n) {
      const r = await this.it.next();
      if (r.done) return undefined;
      parts.push(r.value);
      have += r.value.length;
    }
    const all = parts.length === 1 ? parts[0]! : Buffer.concat(parts, have);
    this.buf = all.subarray(n);
    return all.subarray(0, n);
  }

  /** The next block, inflated; an error when the file ends early or is malformed. */
  async next(): Promise<{ stream: StreamCode; data: Buffer }> {
    const k = this.block++;
    const head = await this.take(BIN_HEADER_BYTES);
    if (!head) throw badParameter(`the recording's .bin file ends before block ${k}`);
    const flags = head.readUInt8(0);
    const rawLen = head.readUInt32BE(1);
    const stored = await this.take(head.readUInt32BE(5));
    if (!stored) throw badParameter(`the recording's .bin file ends inside block ${k}`);
    const data = flags & FLAG_DEFLATE ? zlib.inflateRawSync(stored, { maxOutputLength: Math.max(rawLen, 1) }) : stored;
    if (data.length !== rawLen) throw badParameter(`block ${k} of the recording's .bin file has ${data.length} bytes, its header says ${rawLen}`);
    return { stream: flags & FLAG_INPUT ? 'i' : 'o', data };
  }
}

/** A running SHA-256 whose digest can be read at any point (the marker check). */
export function runningSha256(): { update(b: Buffer): void; hex(): string } {
  const h = crypto.createHash('sha256');
  return { update: (b) => h.update(b), hex: () => h.copy().digest('hex') };
}
