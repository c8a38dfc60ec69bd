import crypto from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { escapedMax, writeJsonText } from '../../src/lib/recording/json-text.js';

/** A random string of code points from every UTF-8 length, ASCII controls and the escaped characters weighted up. */
function randomText(length: number): string {
  const pick = () => {
    switch (crypto.randomInt(6)) {
      case 0:
        return 1 + crypto.randomInt(0x1f);
      case 1:
        return [0x22, 0x5c, 0x7f, 0x2028, 0x2029][crypto.randomInt(5)]!;
      case 2:
        return 0x20 + crypto.randomInt(0x60);
      case 3:
        return 0x80 + crypto.randomInt(0x780);
      case 4:
        return 0x800 + crypto.randomInt(0xd000); // below the surrogates
      default:
        return 0x10000 + crypto.randomInt(0xfffff);
    }
  };
  return Array.from({ length }, () => String.fromCodePoint(pick())).join('');
}

describe('writeJsonText', () => {
  it('writes what JSON.stringify writes between the quotes, at any alignment of the bytes', () => {
    for (let t = 0; t < 3000; t++) {
      const text = randomText(crypto.randomInt(300));
      const bytes = Buffer.from(text);
      // The text at an offset of 0 to 3 bytes into its memory, written at an offset into the output.
      const shift = crypto.randomInt(4);
      const src = Buffer.concat([Buffer.alloc(shift), bytes]).subarray(shift);
      const out = Buffer.alloc(7 + escapedMax(src.length));
      const end = writeJsonText(src, out, 7);
      expect(out.subarray(7, end).toString('utf8')).toBe(JSON.stringify(text).slice(1, -1));
    }
  });

  it('long runs without escapes and every byte escaped', () => {
    const plain = Buffer.from('x'.repeat(10_000));
    const out = Buffer.alloc(escapedMax(plain.length));
    expect(out.subarray(0, writeJsonText(plain, out, 0)).equals(plain)).toBe(true);
    const controls = Buffer.alloc(1000, 0x1b);
    const end = writeJsonText(controls, out, 0);
    expect(end).toBe(escapedMax(controls.length));
    expect(out.subarray(0, end).toString()).toBe(JSON.stringify(controls.toString()).slice(1, -1));
  });
});
