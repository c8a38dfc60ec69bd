import { describe, expect, it } from 'vitest';
import { EscapeFilter, MAX_FILTERED_STRING } from '../../src/lib/recording/escape-filter.js';

const run = (chunks: string[]) => {
  const f = new EscapeFilter();
  return chunks.map((c) => f.push(c)).join('') + f.end();
};
/** Every way of cutting `text` in two. */
const allSplits = (text: string) => Array.from({ length: text.length + 1 }, (_, i) => [text.slice(0, i), text.slice(i)]);

describe('EscapeFilter: what tsh play keeps from a recorded user', () => {
  it('drops OSC 52 (clipboard), titles, DCS, APC, PM and SOS, in 7-bit and C1 forms', () => {
    const cases = [
      '\u001b]52;c;ZWNobyBwd25lZA==\u0007',
      '\u001b]0;fake title\u001b\\',
      '\u001b]8;;http://x\u001b\\',
      '\u001bP$q"p\u001b\\',
      '\u001b_app data\u001b\\',
      '\u001b^private\u001b\\',
      '\u001bXsos\u001b\\',
      '\u009d52;c;Zm9v\u0007',
      '\u0090qdata\u009c',
    ];
    for (const seq of cases) expect(run([`before ${seq}after`]), JSON.stringify(seq)).toBe('before after');
  });

  it('keeps colours, cursor movement and text exactly', () => {
    const text = '\u001b[1;31mred\u001b[0m \u001b[2J\u001b[H\u001b7x\u001b8 \u001bc done\r\n';
    expect(run([text])).toBe(text);
  });

  it('gives the same result however the stream is cut', () => {
    const text = 'a\u001b]52;c;Zm9v\u001b\\b\u001b[31mc\u001bP1$r\u001b\\d';
    for (const parts of allSplits(text)) expect(run(parts), JSON.stringify(parts)).toBe('ab\u001b[31mcd');
  });

  it('CAN and SUB abort a string; an ESC that is not ST starts a new sequence', () => {
    expect(run(['x\u001b]0;t\u0018y'])).toBe('xy');
    expect(run(['x\u001b]0;t\u001b[31my'])).toBe('x\u001b[31my');
  });

  it('a string left open does not hide the rest of the session', () => {
    const out = run(['\u001b]52;c;', 'A'.repeat(MAX_FILTERED_STRING + 10), 'visible']);
    expect(out).toMatch(/dropped an escape sequence longer than/);
    expect(out.endsWith('visible')).toBe(true);
  });

  it('a lone ESC at the very end is passed on', () => {
    expect(run(['text\u001b'])).toBe('text\u001b');
  });
});

describe('mayHaveControls: the player skips the filter for batches without ESC or C1', () => {
  it('finds ESC and C1 controls as a .cast line holds them, and nothing in plain text', async () => {
    const { mayHaveControls } = await import('../../src/lib/recording/escape-filter.js');
    const line = (data: string) => Buffer.from(`${JSON.stringify([1, 'o', data])}\n`);
    expect(mayHaveControls(line('plain text\r\n é ü 日本'))).toBe(false);
    for (const data of ['\u001b]52;c;x\u0007', '\u001b[31m', '\u009d52;c;x\u0007', '\u0090q\u009c']) expect(mayHaveControls(line(data)), JSON.stringify(data)).toBe(true);
    expect(mayHaveControls(Buffer.from('[1,"o","\\u001B]0;t\\u0007"]\n'))).toBe(true);
    expect(mayHaveControls(Buffer.from('[1,"o","\\u009d"]\n'))).toBe(true);
  });
});
