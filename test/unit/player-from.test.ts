import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { parseOffset, formatOffset } from '../../src/lib/duration.js';
import { playText, playTimed } from '../../src/lib/recording/index.js';

const cast = () =>
  Readable.from([
    Buffer.from(
      [
        JSON.stringify({ version: 2, width: 80, height: 24 }),
        JSON.stringify([1.0, 'o', '$ echo needle-$((40+2))']),
        JSON.stringify([2.5, 'o', '\r\n']),
        JSON.stringify([2.501, 'o', '\x1b[?2004lneedle-42\r\n$ ']),
        JSON.stringify([9.0, 'o', 'exit\r\n']),
        '',
      ].join('\n'),
    ),
  ]);

describe('tsh play --from (a search hit\'s offset)', () => {
  it('offsets print as tsh play --from reads them, to the millisecond', () => {
    for (const ms of [0, 500, 2501, 92_345, 3_723_004]) expect(parseOffset(formatOffset(ms))).toBe(ms);
    expect(formatOffset(92_345)).toBe('1m32.345s');
    expect(parseOffset('92.5')).toBe(92_500);
    expect(() => parseOffset('soon')).toThrow(/invalid offset/);
  });

  it('text starts at the first output from the offset on, without the line breaks before it', async () => {
    let out = '';
    await playText(cast(), (t) => void (out += t), undefined, { fromMs: 2501 });
    expect(out).toBe('needle-42\r\n$ exit\r\n');
    out = '';
    await playText(cast(), (t) => void (out += t), undefined, { fromMs: 2500 });
    expect(out.startsWith('needle-42')).toBe(true);
  });

  it('pty paints everything before the offset at once, then keeps the timing from there', async () => {
    const writes: Array<[string, number]> = [];
    const t0 = Date.now();
    await playTimed(cast(), { speed: 16, fromMs: 2501, write: (t) => void writes.push([t, Date.now() - t0]) });
    // Nothing waited for before the offset (at speed 16, the 2.5 s before it would be 156 ms)...
    expect(writes.slice(0, 3).map(([, at]) => at).every((at) => at < 100)).toBe(true);
    // ...and the 6.5 s pause after it is kept (406 ms at speed 16).
    expect(writes[3]![0]).toBe('exit\r\n');
    expect(writes[3]![1]).toBeGreaterThanOrEqual(390);
  });
});
