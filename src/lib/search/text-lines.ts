import { isUtf8 } from 'node:buffer';
import { completeEnd } from '../utf8.js';
import type { ScreenLine } from './screen-lines.js';

/**
 * Runs of at least this many characters with no control character (tab aside), no U+FFFD and no
 * invalid UTF-8 in a binary read: random bytes make one about every 150 KiB; real text in a binary
 * stream (an environment dump with NULs, strings in an executable) is longer.
 */
const TEXT_RUN_CHARS = 12;

/**
 * The text runs of a binary read (what `strings` would find, UTF-8 aware): runs of at least
 * TEXT_RUN_CHARS characters, where a character is printable ASCII, a tab, or a well-formed UTF-8
 * sequence (WHATWG rules: no overlongs, surrogates or code points past U+10FFFF) other than U+FFFD.
 * Decoding random bytes and matching a regular expression over them cost about 20 CPU seconds a
 * GiB on the relay's thread; a byte-by-byte reading, about 10 (its branches are random too).
 * So a read is first looked at a word at a time for seeds (four bytes of ASCII text or tabs, or
 * four bytes that can be inside multi-byte characters). A read that is mostly seeds (text with a
 * few NULs: `find -print0`, an environment dump) is read byte by byte, whole; otherwise (random or
 * compressed bytes, where seeds are rare) only around each seed, from the last byte before it that
 * no text holds. A run with no seed in a read that is mostly not text ("a=ä b=ö" among random
 * bytes) can then be missed.
 */
export function textRuns(b: Buffer): string[] {
  const runs: string[] = [];
  const n = b.length;
  const head = Math.min(n, (4 - (b.byteOffset & 3)) & 3);
  const words = (n - head) >>> 2;
  if (words === 0) return runs;
  const w = new Uint32Array(b.buffer, b.byteOffset + head, words);
  // Judged on at most 128 words spread over the read.
  const step = Math.max(1, Math.floor(words / 128));
  let plain = 0;
  let sampled = 0;
  for (let k = 0; k < words; k += step, sampled++) if (!hasBreak(w[k]!)) plain++;
  if (plain > MOSTLY_TEXT * sampled) {
    scanRuns(b, 0, n, runs);
    return runs;
  }
  /** Bytes before this have been read one by one already. */
  let done = 0;
  for (let k = 0; k < words; k++) {
    const at = head + (k << 2);
    if (at < done || !isSeed(w[k]!)) continue;
    let start = at;
    while (start > done && !isBreak(b[start - 1]!)) start--;
    done = scanRuns(b, start, at + 4, runs);
  }
  return runs;
}

/**
 * A read with more than this share of words without a byte no text holds is read whole
 * (textRuns): text with a few NULs has nearly all, random bytes about half.
 */
const MOSTLY_TEXT = 0.7;

/** Per byte of a word: the high bit set where the byte is not zero (exact: no carry crosses bytes). */
function nonZero(y: number): number {
  return (((y & 0x7f7f7f7f) + 0x7f7f7f7f) | y) & 0x80808080;
}

/** Whether a word holds a byte no text holds: a control byte other than tab, DEL, C0, C1, or 0xf8 and up (0xf5-0xf7 pass: this only picks the way to read). */
function hasBreak(x: number): boolean {
  const printable = (((x & 0x7f7f7f7f) + 0x60606060) | x) & 0x80808080;
  const control = ~printable & nonZero(x ^ 0x09090909) & 0x80808080;
  const other = ~(nonZero(x ^ 0x7f7f7f7f) & nonZero((x & 0xfefefefe) ^ 0xc0c0c0c0) & nonZero((x & 0xf8f8f8f8) ^ 0xf8f8f8f8)) & 0x80808080;
  return (control | other) !== 0;
}

/** Four bytes of ASCII text (tabs included), or four that can all be inside multi-byte UTF-8 characters. */
function isSeed(x: number): boolean {
  const high = x & 0x80808080;
  if (high === (0x80808080 | 0)) return true;
  if (high !== 0) return false;
  const d = x ^ 0x7f7f7f7f;
  // No byte below 0x20 and none equal to 0x7f; with one, only tabs may be below 0x20.
  if (((((x - 0x20202020) & ~x) | ((d - 0x01010101) & ~d)) & 0x80808080) === 0) return true;
  for (let s = 0; s < 32; s += 8) {
    const c = (x >>> s) & 0xff;
    if (c < 0x20 ? c !== 0x09 : c === 0x7f) return false;
  }
  return true;
}

/** A byte no text holds: a control character other than tab, DEL, or a byte that never occurs in UTF-8. */
function isBreak(c: number): boolean {
  return c < 0x20 ? c !== 0x09 : c === 0x7f || c === 0xc0 || c === 0xc1 || c >= 0xf5;
}

/**
 * Reads characters from `from` (a character boundary), pushing each run of TEXT_RUN_CHARS or more,
 * until the first break at or after `past`; returns where the next read may start.
 */
function scanRuns(b: Buffer, from: number, past: number, runs: string[]): number {
  const n = b.length;
  let start = from;
  let chars = 0;
  let i = from;
  while (i < n) {
    const c = b[i]!;
    const len = (c >= 0x20 ? c < 0x7f : c === 0x09) ? 1 : c >= 0xc2 && c <= 0xf4 ? utf8Sequence(b, i, c) : 0;
    if (len > 0) {
      if (chars === 0) start = i;
      // In UTF-16 code units, as a string's length counts them (a character past U+FFFF is two).
      chars += len === 4 ? 2 : 1;
      i += len;
      continue;
    }
    if (chars >= TEXT_RUN_CHARS) runs.push(b.toString('utf8', start, i));
    chars = 0;
    if (i >= past) return i + 1;
    i++;
  }
  if (chars >= TEXT_RUN_CHARS) runs.push(b.toString('utf8', start, n));
  return n;
}

/** The length of the well-formed UTF-8 sequence led by `c` at `i` (0 when it is not one, or is U+FFFD). */
function utf8Sequence(b: Buffer, i: number, c: number): number {
  const need = c < 0xe0 ? 2 : c < 0xf0 ? 3 : 4;
  if (i + need > b.length) return 0;
  const c1 = b[i + 1]!;
  // The second byte's range depends on the lead (WHATWG's "UTF-8 decode" bounds).
  const lo = c === 0xe0 ? 0xa0 : c === 0xf0 ? 0x90 : 0x80;
  const hi = c === 0xed ? 0x9f : c === 0xf4 ? 0x8f : 0xbf;
  if (c1 < lo || c1 > hi) return 0;
  for (let k = 2; k < need; k++) if ((b[i + k]! & 0xc0) !== 0x80) return 0;
  if (c === 0xef && c1 === 0xbf && b[i + 2] === 0xbd) return 0;
  return need;
}

/** CSI, OSC and other escape sequences, and control characters other than tab: not text. */
const ESCAPES = /\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)|[PX^_][^\x1b]*\x1b\\|[@-Z\\-_])|[\x00-\x08\x0b-\x1f\x7f]/g;

/** Control characters other than tab (ESC and CR among them): a line without any needs no stripping. */
const CONTROL = /[\x00-\x08\x0b-\x1f\x7f]/;

const EMPTY = Buffer.alloc(0);

/** A line that never ends (a progress bar, a long run of text) is cut at this many bytes, so it stays searchable. */
const MAX_LINE_BYTES = 4096;

/**
 * A non-PTY stream (an exec's output, or what was piped into it) as lines, each with the time it
 * began: there is no terminal to emulate, so the text is split at newlines and stripped of escapes.
 * It works on the bytes (newlines found natively) and decodes only the lines it hands on: while
 * `accepting()` says no (the index writer is behind, or the session has all the lines it gets),
 * the lines ending in a read are skipped without being looked at, so bulk output through exec
 * costs little more than a search for its last newline.
 */
export class TextLines {
  private partial: Buffer[] = [];
  private partialBytes = 0;
  private partialTime = 0;
  /** Bytes of lines skipped while not accepting. */
  skippedBytes = 0;

  constructor(
    private readonly onLine: (line: ScreenLine) => void,
    private readonly accepting: () => boolean = () => true,
  ) {}

  write(data: Buffer, offsetMs: number): void {
    // Binary (random bytes, an archive through exec): splitting it at its 0x0a bytes would index
    // thousands of lines of noise, so only its runs of text (as `strings` finds them) are kept.
    // A NUL byte next to text therefore does not hide the text from search.
    if (looksBinary(data)) {
      // A character left incomplete by the binary read never became one: not part of the line.
      this.endLine(undefined, true);
      this.partialTime = offsetMs;
      if (!this.accepting()) {
        this.skippedBytes += data.length;
        return;
      }
      for (const run of textRuns(data)) this.take(run);
      return;
    }
    if (this.partialBytes === 0) this.partialTime = offsetMs;
    let start = 0;
    // Bounded: each pass moves `start` past a newline of `data`, or leaves.
    while (start < data.length) {
      if (!this.accepting()) {
        const last = data.lastIndexOf(0x0a);
        if (last >= start) {
          this.skippedBytes += this.partialBytes + last + 1 - start;
          this.partial = [];
          this.partialBytes = 0;
          this.partialTime = offsetMs;
          start = last + 1;
        }
        break;
      }
      const nl = data.indexOf(0x0a, start);
      if (nl === -1) break;
      this.endLine(data.subarray(start, nl));
      this.partialTime = offsetMs;
      start = nl + 1;
    }
    if (start < data.length) this.hold(data.subarray(start));
    if (this.partialBytes > MAX_LINE_BYTES) {
      // Cut before a character split across reads, which the next read completes.
      const all = Buffer.concat(this.partial, this.partialBytes);
      const cut = completeEnd(all);
      this.partial = [all.subarray(0, cut)];
      this.partialBytes = cut;
      this.endLine();
      if (cut < all.length) this.hold(Buffer.from(all.subarray(cut)));
      this.partialTime = offsetMs;
    }
  }

  end(offsetMs: number): void {
    if (this.partialBytes === 0) this.partialTime = offsetMs;
    this.endLine();
  }

  /** Keeps bytes of the line being read (copied: the caller's buffer may be reused). */
  private hold(bytes: Buffer): void {
    if (bytes.length === 0) return;
    this.partial.push(Buffer.from(bytes));
    this.partialBytes += bytes.length;
  }

  /** The line read so far, ended by `last` (its bytes up to the newline; none at a cut or the end). */
  private endLine(last?: Buffer, dropIncomplete = false): void {
    let line = last ?? EMPTY;
    if (this.partialBytes > 0) {
      if (line.length > 0) this.partial.push(line);
      line = Buffer.concat(this.partial, this.partialBytes + line.length);
      this.partial = [];
      this.partialBytes = 0;
    }
    if (dropIncomplete) line = line.subarray(0, completeEnd(line));
    if (line.length === 0) return;
    if (this.accepting()) this.take(line.toString('utf8'));
    else this.skippedBytes += line.length;
  }

  private take(raw: string): void {
    // A carriage return redraws the line: what is after the last one is what was left showing.
    const line = (CONTROL.test(raw) ? raw.replace(/\r+$/, '').split('\r').pop()!.replace(ESCAPES, '') : raw).trimEnd();
    if (line.trim()) this.onLine({ offsetMs: this.partialTime, text: line });
  }
}

/**
 * A read that is not text: it holds a NUL byte or is not UTF-8, leaving aside a character split
 * across reads (up to 3 bytes at either end). The recorder's rule for its byte-exact sidecar.
 */
export function looksBinary(b: Buffer): boolean {
  if (b.indexOf(0) !== -1) return true;
  let start = 0;
  while (start < 3 && start < b.length && (b[start]! & 0xc0) === 0x80) start++;
  const rest = b.subarray(start);
  return !isUtf8(rest.subarray(0, completeEnd(rest)));
}
