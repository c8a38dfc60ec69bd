import fs from 'node:fs';
import type { Readable } from 'node:stream';
import { badParameter } from '../errors.js';
import type { AsciicastHeader } from './asciicast-writer.js';
import { CastLineScanner, castLineText, castText } from './cast-lines.js';
import { mayHaveControls } from './escape-filter.js';

/** One asciicast v2 event: time in seconds, code ("o", "i", "r", "m", or any other kept as is), data. */
export type CastEvent = [number, string, string];

/** `controls`: false when the batch's bytes hold no ESC or C1 control (see mayHaveControls). */
export type CastItem = { header: AsciicastHeader } | { events: CastEvent[]; controls: boolean };

/**
 * Streams an asciicast v2 file: the header, then the events of each chunk read (1 MiB at a time)
 * as one batch, so start-up does not depend on the recording's size and a million small events
 * do not cost a million promises. Lines come from the one `.cast` line scanner (cast-lines.ts).
 * A truncated last line (a recording cut short) ends the stream with one warning.
 */
export async function* readCastBatches(source: string | Readable, onWarning?: (message: string) => void): AsyncGenerator<CastItem> {
  const file = typeof source === 'string' ? source : 'the recording';
  const input: Readable = typeof source === 'string' ? fs.createReadStream(source, { highWaterMark: 1 << 20 }) : source;
  let first = true;
  let n = 0;
  let lastTime = 0;
  /** Parses one line into `out`; `stop` when the stream must end (a cut-short last event). */
  const parse = (text: string, out: CastEvent[]): { header?: AsciicastHeader; stop?: boolean } => {
    n++;
    if (text === '') return {};
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch {
      // Only the last line may be cut short (a killed writer); anything else is damage.
      if (!first) {
        onWarning?.(`the recording ends with an incomplete event at line ${n} (a proxy stopped while writing it); played up to ${lastTime.toFixed(1)} s`);
        return { stop: true };
      }
      throw badParameter(`${file} is not an asciicast v2 recording (line ${n} is not JSON)`);
    }
    if (first) {
      first = false;
      const h = value as AsciicastHeader & { version?: number };
      if (h?.version !== 2) throw badParameter(`${file} is not an asciicast v2 recording`, 'tollgate plays asciicast v2 (.cast) files');
      return { header: h };
    }
    if (Array.isArray(value) && typeof value[0] === 'number' && typeof value[1] === 'string') {
      lastTime = value[0];
      out.push([value[0], value[1], String(value[2] ?? '')]);
    }
    return {};
  };
  const scanner = new CastLineScanner();
  // A line (or an escape) can span two reads: the flag of a batch covers the read before it too.
  let prevControls = false;
  let prevTail = Buffer.alloc(0);
  try {
    for await (const raw of input as AsyncIterable<Buffer | string>) {
      const chunk = typeof raw === 'string' ? Buffer.from(raw) : raw;
      const own = mayHaveControls(chunk);
      const controls = own || prevControls || mayHaveControls(Buffer.concat([prevTail, chunk.subarray(0, 8)]));
      prevControls = own;
      prevTail = Buffer.from(chunk.subarray(Math.max(0, chunk.length - 8)));
      const events: CastEvent[] = [];
      let header: AsciicastHeader | undefined;
      let stop = false;
      scanner.scan(chunk, (buf, start, end, offset) => {
        const r = parse(castText(buf, start, end, offset), events);
        if (r.header) header = r.header;
        if (r.stop) stop = true;
        return !stop;
      });
      if (header) yield { header };
      if (events.length) yield { events, controls };
      if (stop) return;
    }
    const last = scanner.end();
    if (last) {
      const events: CastEvent[] = [];
      const r = parse(castLineText(last), events);
      if (r.header) yield { header: r.header };
      if (events.length) yield { events, controls: true };
    }
  } finally {
    input.destroy();
  }
  if (first) throw badParameter(`${file} is empty`);
}

/** The same, one event at a time (timed playback, where each event waits anyway). */
export async function* readCast(source: string | Readable, onWarning?: (message: string) => void): AsyncGenerator<{ header: AsciicastHeader } | { event: CastEvent }> {
  for await (const item of readCastBatches(source, onWarning)) {
    if ('header' in item) yield item;
    else for (const event of item.events) yield { event };
  }
}
