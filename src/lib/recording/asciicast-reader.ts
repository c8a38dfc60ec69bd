import fs from 'node:fs';
import type { Readable } from 'node:stream';
import { badParameter } from '../errors.js';
import type { AsciicastHeader } from './asciicast-writer.js';

/** One asciicast v2 event: time in seconds, code ("o", "i", "r", "m", or any other kept as is), data. */
export type CastEvent = [number, string, string];

export type CastItem = { header: AsciicastHeader } | { events: CastEvent[] };

/**
 * Streams an asciicast v2 file: the header, then the events of each chunk read (1 MiB at a time)
 * as one batch, so start-up does not depend on the recording's size and a million small events
 * do not cost a million promises. Lines are split on the bytes (no regex, no string copy of the
 * whole chunk). A truncated last line (a recording cut short) ends the stream with one warning.
 */
export async function* readCastBatches(source: string | Readable, onWarning?: (message: string) => void): AsyncGenerator<CastItem> {
  const file = typeof source === 'string' ? source : 'the recording';
  const input: Readable = typeof source === 'string' ? fs.createReadStream(source, { highWaterMark: 1 << 20 }) : source;
  let first = true;
  let n = 0;
  let lastTime = 0;
  let rest: Buffer | undefined;
  /** Parses one line; returns false when the stream must end (a cut-short last event). */
  const parse = (buf: Buffer, start: number, end: number, out: CastEvent[]): { header?: AsciicastHeader; stop?: boolean } => {
    n++;
    if (end > start && buf[end - 1] === 13) end--;
    if (end <= start) return {};
    let value: unknown;
    try {
      value = JSON.parse(buf.toString('utf8', start, end));
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
  try {
    for await (const raw of input as AsyncIterable<Buffer | string>) {
      const buf = typeof raw === 'string' ? Buffer.from(raw) : raw;
      const events: CastEvent[] = [];
      let start = 0;
      if (rest?.length) {
        // Only the line that spans the two chunks is copied, not the whole chunk.
        const nl = buf.indexOf(10);
        if (nl === -1) {
          rest = Buffer.concat([rest, buf]);
          continue;
        }
        const joined = Buffer.concat([rest, buf.subarray(0, nl + 1)]);
        rest = undefined;
        const r = parse(joined, 0, joined.length - 1, events);
        if (r.header) yield { header: r.header };
        if (r.stop) {
          if (events.length) yield { events };
          return;
        }
        start = nl + 1;
      }
      for (let nl = buf.indexOf(10, start); nl !== -1; nl = buf.indexOf(10, start)) {
        const r = parse(buf, start, nl, events);
        start = nl + 1;
        if (r.header) yield { header: r.header };
        if (r.stop) {
          if (events.length) yield { events };
          return;
        }
      }
      rest = start < buf.length ? Buffer.from(buf.subarray(start)) : undefined;
      if (events.length) yield { events };
    }
    if (rest?.length) {
      const events: CastEvent[] = [];
      const r = parse(rest, 0, rest.length, events);
      if (r.header) yield { header: r.header };
      if (events.length) yield { events };
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
