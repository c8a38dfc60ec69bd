/*
 * The body of a JSON string (no quotes) made from bytes that are valid UTF-8 without NUL, written
 * into a buffer: byte for byte what the UTF-8 encoding of JSON.stringify(the decoded text) holds
 * between its quotes. JSON.stringify escapes only the ASCII controls, '"' and '\' in such text
 * (lowercase \u00XX, short forms for \b \t \n \f \r); every other byte, multi-byte characters
 * included, is copied as it is. This is the recorder's hot path for terminal text: it skips the
 * decode, the string and the encode, and scans four bytes at a time for the bytes to escape.
 */

/** The character after '\' for each byte that is escaped ('u' for \u00XX); 0: copied as is. */
const ESCAPE = new Uint8Array(256);
for (let c = 0; c < 0x20; c++) ESCAPE[c] = 0x75;
ESCAPE[0x08] = 0x62;
ESCAPE[0x09] = 0x74;
ESCAPE[0x0a] = 0x6e;
ESCAPE[0x0c] = 0x66;
ESCAPE[0x0d] = 0x72;
ESCAPE[0x22] = 0x22;
ESCAPE[0x5c] = 0x5c;
const HEX = Buffer.from('0123456789abcdef');

/** Runs up to this long are copied by a loop; longer ones by Buffer#copy (whose call costs more than a short loop). */
const SHORT_RUN = 48;

/** The most bytes `n` bytes of text can take escaped (all of them \u00XX). */
export function escapedMax(n: number): number {
  return 6 * n;
}

function copyRun(src: Buffer, out: Buffer, o: number, from: number, to: number): number {
  if (to - from > SHORT_RUN) return o + src.copy(out, o, from, to);
  for (let k = from; k < to; k++) out[o++] = src[k]!;
  return o;
}

function escapeByte(out: Buffer, o: number, c: number): number {
  const e = ESCAPE[c]!;
  out[o++] = 0x5c;
  out[o++] = e;
  if (e === 0x75) {
    out[o++] = 0x30;
    out[o++] = 0x30;
    out[o++] = HEX[c >> 4]!;
    out[o++] = HEX[c & 15]!;
  }
  return o;
}

/**
 * Writes the escaped form of `src` into `out` at `o` and returns the offset after it. `out` must
 * have escapedMax(src.length) bytes of room. `src` must be valid UTF-8 (Utf8Splitter.cut).
 */
export function writeJsonText(src: Buffer, out: Buffer, o: number): number {
  const n = src.length;
  let run = 0;
  let i = 0;
  // Byte by byte up to a 4-byte boundary of the underlying memory, then a word at a time.
  const head = Math.min(n, (4 - (src.byteOffset & 3)) & 3);
  for (; i < head; i++) {
    const c = src[i]!;
    if (ESCAPE[c] !== 0) {
      o = escapeByte(out, copyRun(src, out, o, run, i), c);
      run = i + 1;
    }
  }
  const words = (n - head) >>> 2;
  if (words > 0) {
    const w = new Uint32Array(src.buffer, src.byteOffset + head, words);
    for (let k = 0; k < words; k++) {
      const x = w[k]!;
      const q = x ^ 0x22222222;
      const b = x ^ 0x5c5c5c5c;
      // A byte below 0x20, or equal to '"' or '\' (a zero byte of x ^ that byte, repeated): the
      // classic "has a byte less than n" test, exact as a yes/no for n <= 128.
      if ((((x - 0x20202020) & ~x) | ((q - 0x01010101) & ~q) | ((b - 0x01010101) & ~b)) & 0x80808080) {
        const base = head + (k << 2);
        for (let j = base; j < base + 4; j++) {
          const c = src[j]!;
          if (ESCAPE[c] !== 0) {
            o = escapeByte(out, copyRun(src, out, o, run, j), c);
            run = j + 1;
          }
        }
      }
    }
    i = head + (words << 2);
  }
  for (; i < n; i++) {
    const c = src[i]!;
    if (ESCAPE[c] !== 0) {
      o = escapeByte(out, copyRun(src, out, o, run, i), c);
      run = i + 1;
    }
  }
  return copyRun(src, out, o, run, n);
}
