import fs from 'node:fs';
import readline from 'node:readline';
import type { Readable } from 'node:stream';
import { badParameter } from '../errors.js';
import type { AsciicastHeader } from './asciicast-writer.js';

/** One asciicast v2 event: time in seconds, code ("o", "i", "r", "m", or any other kept as is), data. */
export type CastEvent = [number, string, string];

/**
 * Streams an asciicast v2 file: the header, then events one at a time, so start-up does not
 * depend on the recording's size. A truncated last line (a recording cut short) ends the stream.
 */
export async function* readCast(source: string | Readable, onWarning?: (message: string) => void): AsyncGenerator<{ header: AsciicastHeader } | { event: CastEvent }> {
  const file = typeof source === 'string' ? source : 'the recording';
  const input = typeof source === 'string' ? fs.createReadStream(source, { encoding: 'utf8', highWaterMark: 64 * 1024 }) : source.setEncoding('utf8');
  const lines = readline.createInterface({ input, crlfDelay: Infinity });
  let first = true;
  let n = 0;
  let lastTime = 0;
  try {
    for await (const line of lines) {
      n++;
      if (line === '') continue;
      let value: unknown;
      try {
        value = JSON.parse(line);
      } catch {
        // Only the last line may be cut short (a killed writer); anything else is damage.
        if (!first) {
          onWarning?.(`the recording ends with an incomplete event at line ${n} (a proxy stopped while writing it); played up to ${lastTime.toFixed(1)} s`);
          return;
        }
        throw badParameter(`${file} is not an asciicast v2 recording (line ${n} is not JSON)`);
      }
      if (first) {
        first = false;
        const h = value as AsciicastHeader & { version?: number };
        if (h?.version !== 2) throw badParameter(`${file} is not an asciicast v2 recording`, 'tollgate plays asciicast v2 (.cast) files');
        yield { header: h };
        continue;
      }
      if (Array.isArray(value) && typeof value[0] === 'number' && typeof value[1] === 'string') {
        lastTime = value[0];
        yield { event: [value[0], value[1], String(value[2] ?? '')] };
      }
    }
  } finally {
    lines.close();
    input.destroy();
  }
  if (first) throw badParameter(`${file} is empty`);
}
