import { StringDecoder } from 'node:string_decoder';
import type { ScreenLine } from './screen-lines.js';

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
