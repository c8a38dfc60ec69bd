import type { Readable } from 'node:stream';
import { badParameter } from '../errors.js';
import { readCast, readCastBatches, type CastEvent } from './asciicast-reader.js';
import { EscapeFilter } from './escape-filter.js';
import { BinBlockReader, parseBinMarker, runningSha256, type StreamCode } from './binary-sidecar.js';

export interface PlayOptions {
  /** 0.25-16; 1 is real time. */
  speed: number;
  /** Longest pause kept, in seconds (asciinema's idle time limit); undefined keeps every pause. */
  maxIdleSeconds?: number;
  /** May return a promise (backpressure): playback waits for it. */
  write(text: string): void | Promise<void>;
  /** Resolves after `ms` unless playback is skipped ahead; tests pass a fake. */
  sleep?(ms: number): Promise<void>;
  /** Pause/seek/quit control from the keyboard, when there is one. */
  control?: PlaybackControl;
  onWarning?: (message: string) => void;
  /** Pass OSC, DCS, APC, PM and SOS strings to the terminal (default: dropped, see escape-filter.ts). */
  rawEscapes?: boolean;
  /**
   * Start here (ms into the recording, `tsh play --from`): everything before is written at once,
   * without its pauses, so the screen is what it was at that moment; the timing starts there.
   */
  fromMs?: number;
}

/** An event's time in whole ms (`.cast` times have three decimals; 1.234 * 1000 is not exact). */
const eventMs = (t: number) => Math.round(t * 1000);

/** State shared with a keyboard handler: space pauses, → skips ahead, q quits. */
export class PlaybackControl {
  paused = false;
  quit = false;
  skipMs = 0;
  private wake: (() => void) | undefined;

  togglePause(): void {
    this.paused = !this.paused;
    this.poke();
  }
  skip(ms: number): void {
    this.skipMs += ms;
    this.poke();
  }
  stop(): void {
    this.quit = true;
    this.poke();
  }
  /** Interruptible sleep: returns early on any key. */
  wait(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(done, ms);
      function done() {
        clearTimeout(t);
        resolve();
      }
      this.wake = done;
    });
  }
  private poke(): void {
    const w = this.wake;
    this.wake = undefined;
    w?.();
  }
}

/** Writes the output with its original timing (scaled by speed, idle pauses capped). */
export async function playTimed(file: string | Readable, o: PlayOptions): Promise<void> {
  const control = o.control;
  const sleep = o.sleep ?? ((ms: number) => (control ? control.wait(ms) : new Promise<void>((r) => setTimeout(r, ms))));
  let last = (o.fromMs ?? 0) / 1000;
  const filter = o.rawEscapes ? undefined : new EscapeFilter();
  for await (const item of readCast(file, o.onWarning)) {
    if (!('event' in item)) continue;
    const [t, code, data] = item.event;
    // Before the starting point: the screen is painted at once (gap 0), no pause.
    let gap = eventMs(t) < (o.fromMs ?? 0) ? 0 : Math.max(0, t - last);
    if (o.maxIdleSeconds !== undefined) gap = Math.min(gap, o.maxIdleSeconds);
    last = Math.max(last, t);
    let remaining = (gap * 1000) / o.speed;
    while (remaining > 0 && !control?.quit) {
      if (control?.skipMs) {
        remaining = Math.max(0, remaining - control.skipMs);
        control.skipMs = 0;
        continue;
      }
      const started = Date.now();
      await sleep(Math.min(remaining, 250));
      if (!control?.paused) remaining -= Date.now() - started;
      while (control?.paused && !control.quit) await control.wait(1000);
    }
    if (control?.quit) return;
    if (code === 'o') await o.write(filter ? filter.push(data) : data);
  }
  const rest = filter?.end();
  if (rest) await o.write(rest);
}

/**
 * The output at once, colours and cursor movement kept (`| less -R` works), terminal strings
 * (OSC, DCS, APC, PM, SOS) dropped unless `rawEscapes`, and each marker (an sftp file operation,
 * binary output kept beside the recording) as a line of its own: `[LABEL]`, its control
 * characters shown as `\xNN` (a file name must not reach the terminal as escapes either). The
 * input of a non-PTY session (what was piped into the command) is written where it came, so a
 * piped script reads with its output; PTY keystrokes are left out (the remote terminal's echo is
 * already in the output). One write per batch read.
 */
export async function playText(file: string | Readable, write: (text: string) => void | Promise<void>, onWarning?: (m: string) => void, o: { rawEscapes?: boolean; fromMs?: number } = {}): Promise<void> {
  const filter = o.rawEscapes ? undefined : new EscapeFilter();
  let lineStart = true;
  let showInput = false;
  // With a starting point (`--from`, a search hit's offset) the text starts at the first event
  // from then on, without the line breaks that led up to it, so it starts at the line found.
  let skipping = o.fromMs !== undefined && o.fromMs > 0;
  let leading = o.fromMs !== undefined;
  for await (const item of readCastBatches(file, onWarning)) {
    if (!('events' in item)) {
      showInput = item.header.pty === false;
      continue;
    }
    // No closures over these two strings: V8 then keeps the concatenation cheap (a closure made
    // it 40% more memory on a 1 GiB replay).
    let text = '';
    let output = '';
    const filtering = filter !== undefined && (item.controls || !filter.idle);
    for (const e of item.events) {
      if (skipping && eventMs(e[0]) < o.fromMs!) continue;
      skipping = false;
      if (e[1] === 'o' || (showInput && e[1] === 'i')) {
        const data = leading ? e[2].replace(/^(?:\x1b\[[0-9;?]*[A-Za-z]|[\r\n])+/, '') : e[2];
        if (!data) continue;
        leading = false;
        output += data;
        if (e[2]) lineStart = e[2].endsWith('\n');
      } else if (e[1] === 'm') {
        if (output) text += filtering ? filter!.push(output) : output;
        output = '';
        text += `${lineStart ? '' : '\n'}[${o.rawEscapes ? e[2] : showControls(e[2])}]\n`;
        lineStart = true;
      }
    }
    if (output) text += filtering ? filter!.push(output) : output;
    if (text) await write(text);
  }
  const rest = filter?.end();
  if (rest) await write(rest);
}

/** A marker label with its control characters made visible (`\x1b`). */
function showControls(label: string): string {
  return label.replace(/[\u0000-\u001f\u007f-\u009f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}

/** The header and events as one JSON document, streamed. */
export async function playJson(file: string | Readable, write: (text: string) => void | Promise<void>, onWarning?: (m: string) => void): Promise<void> {
  let events = 0;
  for await (const item of readCastBatches(file, onWarning)) {
    if ('header' in item) {
      await write(`{"header":${JSON.stringify(item.header)},"events":[`);
      continue;
    }
    let text = '';
    for (const e of item.events) text += `${events++ ? ',' : ''}\n${JSON.stringify(e satisfies CastEvent)}`;
    await write(text);
  }
  await write('\n]}\n');
}

/**
 * One stream of the session byte for byte (`--format=raw`): the UTF-8 of its text events, and
 * its binary blocks from the `.bin` (binary-sidecar.ts) where their markers are. Every marker's
 * running SHA-256 is checked as it goes, so a `.bin` that does not belong to the signed `.cast`
 * is an error, never silently played. `bin` is null when the recording has no `.bin`.
 */
export async function playRaw(file: string | Readable, bin: Readable | null, stream: StreamCode, write: (bytes: Buffer) => void | Promise<void>, onWarning?: (m: string) => void): Promise<void> {
  const reader = bin ? new BinBlockReader(bin) : undefined;
  const hash = runningSha256();
  for await (const item of readCastBatches(file, onWarning)) {
    if (!('events' in item)) continue;
    let text = '';
    for (const e of item.events) {
      if (e[1] === stream) {
        text += e[2];
        continue;
      }
      const m = e[1] === 'm' ? parseBinMarker(e[2]) : undefined;
      if (!m) continue;
      if (!reader) throw badParameter(`the recording has binary data (block ${m.block}) but no .bin file`, 'copy ID.cast.bin with the .cast (tsh recordings export --format=cast does)');
      const block = await reader.next();
      if (block.stream !== m.stream || block.data.length !== m.bytes) throw badParameter(`block ${m.block} of the .bin file does not match its marker in the recording`);
      if (m.stream !== stream) continue;
      if (text) {
        const b = Buffer.from(text, 'utf8');
        hash.update(b);
        await write(b);
        text = '';
      }
      hash.update(block.data);
      if (hash.hex() !== m.sha256) throw badParameter(`block ${m.block} of the .bin file is altered: the ${stream === 'o' ? 'output' : 'input'} does not hash to what the recording's marker says`);
      await write(block.data);
    }
    if (text) {
      const b = Buffer.from(text, 'utf8');
      hash.update(b);
      await write(b);
    }
  }
}
