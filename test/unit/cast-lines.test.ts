import fs from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { castLineBatches, castLines, castLineText, CastLineScanner, splitCastLines, wholeLinesEnd, type CastLine } from '../../src/lib/recording/cast-lines.js';
import { tmpDir } from '../helpers/proc.js';

const plain = (lines: CastLine[]) => lines.map((l) => ({ offset: l.offset, text: l.bytes.toString('utf8'), complete: l.complete }));

/** Feeds `data` cut at every position in `cuts`, and collects what the scanner yields. */
function scanInPieces(data: Buffer, cuts: number[]): CastLine[] {
  const scanner = new CastLineScanner();
  const out: CastLine[] = [];
  let from = 0;
  for (const cut of [...cuts, data.length]) {
    out.push(...scanner.push(data.subarray(from, cut)));
    from = cut;
  }
  const last = scanner.end();
  if (last) out.push(last);
  return out;
}

const CAST = Buffer.from('{"version":2}\n[0.1,"o","caf\u00e9 \u20ac \ud83d\ude00"]\n\n[0.2,"o","x"]\n');

describe('cast line scanner', () => {
  it('yields each line without its newline, with its byte offset', () => {
    expect(plain(splitCastLines(CAST))).toEqual([
      { offset: 0, text: '{"version":2}', complete: true },
      { offset: 14, text: '[0.1,"o","caf\u00e9 \u20ac \ud83d\ude00"]', complete: true },
      { offset: 41, text: '', complete: true },
      { offset: 42, text: '[0.2,"o","x"]', complete: true },
    ]);
  });

  it('gives the same lines however the input is cut into chunks, multi-byte characters split included', () => {
    const whole = plain(splitCastLines(CAST));
    for (let a = 0; a <= CAST.length; a++) {
      for (let b = a; b <= CAST.length; b += 7) expect(plain(scanInPieces(CAST, [a, b]))).toEqual(whole);
    }
    // Byte by byte: every 4-byte emoji arrives in four chunks.
    expect(plain(scanInPieces(CAST, [...CAST.keys()]))).toEqual(whole);
  });

  it('an empty input has no lines; a lone newline is one empty line', () => {
    expect(splitCastLines(Buffer.alloc(0))).toEqual([]);
    const s = new CastLineScanner();
    expect(s.push(Buffer.alloc(0))).toEqual([]);
    expect(s.end()).toBeUndefined();
    expect(plain(splitCastLines(Buffer.from('\n')))).toEqual([{ offset: 0, text: '', complete: true }]);
  });

  it('an input without a trailing newline ends with that line, marked incomplete', () => {
    const data = Buffer.from('{"version":2}\n[0.1,"o","cut sh');
    expect(plain(scanInPieces(data, [3, 20]))).toEqual([
      { offset: 0, text: '{"version":2}', complete: true },
      { offset: 14, text: '[0.1,"o","cut sh', complete: false },
    ]);
  });

  it('keeps a copy of the unterminated rest, not a view that pins the chunk', () => {
    const s = new CastLineScanner();
    const chunk = Buffer.from('a\nbcd');
    s.push(chunk);
    chunk.fill(0x3f);
    expect(s.end()!.bytes.toString()).toBe('bcd');
    expect(s.offset).toBe(5);
  });

  it('split() hands out pieces without joining them, and stops when asked', () => {
    const s = new CastLineScanner();
    const seen: Array<[string, number, boolean]> = [];
    s.split(Buffer.from('ab'), (p, o, e) => void seen.push([p.toString(), o, e]));
    s.split(Buffer.from('c\nde\nf'), (p, o, e) => void seen.push([p.toString(), o, e]));
    expect(seen).toEqual([
      ['ab', 0, false],
      ['c\n', 0, true],
      ['de\n', 4, true],
      ['f', 7, false],
    ]);
    const t = new CastLineScanner();
    let n = 0;
    expect(t.split(Buffer.from('1\n2\n3\n'), () => ++n < 2)).toBe(false);
    expect(n).toBe(2);
  });

  it('castLineText drops a "\\r" before the newline and a byte order mark before the first line only', () => {
    const lines = splitCastLines(Buffer.from('\ufeff{"version":2}\r\n\ufeffx\r\n'));
    expect(lines.map(castLineText)).toEqual(['{"version":2}', '\ufeffx']);
  });

  it('streams: one batch per chunk read, string chunks as UTF-8, the last partial line last', async () => {
    const source = Readable.from([Buffer.from('{"v":2}\n[1,'), '"o","\u20ac"]\n[2,"o"', Buffer.from(',"z"]')]);
    const batches = [];
    for await (const batch of castLineBatches(source)) batches.push(plain(batch));
    expect(batches).toEqual([
      [{ offset: 0, text: '{"v":2}', complete: true }],
      [{ offset: 8, text: '[1,"o","\u20ac"]', complete: true }],
      [{ offset: 22, text: '[2,"o","z"]', complete: false }],
    ]);
    const texts = [];
    for await (const line of castLines(Readable.from([Buffer.from('a\nb\n')]))) texts.push(castLineText(line));
    expect(texts).toEqual(['a', 'b']);
  });

  it('wholeLinesEnd finds where the complete lines of a byte range end, reading backwards past long lines', () => {
    const dir = tmpDir('tollgate-castlines-');
    try {
      const file = path.join(dir, 'x.cast');
      const long = 'y'.repeat(200 * 1024); // longer than one backwards read
      fs.writeFileSync(file, `ab\ncd\n${long}`);
      const fd = fs.openSync(file, 'r');
      try {
        const size = fs.fstatSync(fd).size;
        expect(wholeLinesEnd(fd, 0, size)).toBe(6);
        expect(wholeLinesEnd(fd, 0, 5)).toBe(3);
        expect(wholeLinesEnd(fd, 6, size)).toBe(6); // no whole line in the range yet
        expect(wholeLinesEnd(fd, 0, 6)).toBe(6);
        expect(wholeLinesEnd(fd, 4, 4)).toBe(4);
      } finally {
        fs.closeSync(fd);
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
