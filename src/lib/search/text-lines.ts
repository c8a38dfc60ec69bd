import { isUtf8 } from 'node:buffer';
import { StringDecoder } from 'node:string_decoder';
import type { ScreenLine } from './screen-lines.js';

/**
 * Runs of at least 12 characters with no control character (tab aside) and no invalid UTF-8 in
 * a binary read: random bytes make one about every 150 KiB; real text in a binary stream (an
 * environment dump with NULs, strings in an executable) is longer.
 */
const TEXT_RUNS = /[^\x00-\x08\x0a-\x1f\x7f\ufffd]{12,}/g;

/** CSI, OSC and other escape sequences, and control characters other than tab: not text. */
const ESCAPES = /\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)|[PX^_][^\x1b]*\x1b\\|[@-Z\\-_])|[\x00-\x08\x0b-\x1f\x7f]/g;

/**
 * A non-PTY stream (an exec's output, or what was piped into it) as lines, each with the time it
 * began: there is no terminal to emulate, so the text is split at newlines and stripped of escapes.
 */
export class TextLines {
  private readonly decoder = new StringDecoder('utf8');
  private partial = '';
  private partialTime = 0;

  constructor(private readonly onLine: (line: ScreenLine) => void) {}

  write(data: Buffer, offsetMs: number): void {
    // Binary (random bytes, an archive through exec): splitting it at its 0x0a bytes would index
    // thousands of lines of noise, so only its runs of text (as `strings` finds them) are kept.
    // A NUL byte next to text therefore does not hide the text from search.
    if (looksBinary(data)) {
      this.decoder.end();
      this.take(this.partial);
      this.partial = '';
      this.partialTime = offsetMs;
      for (const run of data.toString('utf8').match(TEXT_RUNS) ?? []) this.take(run);
      return;
    }
    this.push(this.decoder.write(data), offsetMs);
  }

  end(offsetMs: number): void {
    this.push(this.decoder.end(), offsetMs);
    this.take(this.partial);
    this.partial = '';
  }

  private push(text: string, offsetMs: number): void {
    if (!text) return;
    if (!this.partial) this.partialTime = offsetMs;
    const parts = (this.partial + text).split('\n');
    this.partial = parts.pop()!;
    for (const p of parts) {
      this.take(p);
      this.partialTime = offsetMs;
    }
    // A line without a newline for ever (a progress bar, binary) is cut so it stays searchable text.
    if (this.partial.length > 4096) {
      this.take(this.partial);
      this.partial = '';
    }
  }

  private take(raw: string): void {
    // A carriage return redraws the line: what is after the last one is what was left showing.
    const line = raw.replace(/\r+$/, '').split('\r').pop()!.replace(ESCAPES, '').trimEnd();
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
  let end = b.length;
  for (let i = b.length - 1; i >= start && i >= b.length - 3; i--) {
    const c = b[i]!;
    if ((c & 0xc0) === 0x80) continue;
    if (c >= 0xc0 && b.length - i < (c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : 2)) end = i;
    break;
  }
  return !isUtf8(b.subarray(start, end));
}
