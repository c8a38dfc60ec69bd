/*
 * The body of a JSON string (no quotes) made from bytes that are valid UTF-8 without NUL, written
 * into a buffer: byte for byte what the UTF-8 encoding of JSON.stringify(the decoded text) holds
 * between its quotes. JSON.stringify escapes only the ASCII controls, '"' and '\' in such text
 * (lowercase \u00XX, short forms for \b \t \n \f \r); every other byte, multi-byte characters
 * included, is copied as it is. This is the recorder's hot path for terminal text: it skips the
 * decode, the string and the encode, and moves four bytes at a time where none needs escaping.
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

/** The platform's byte order, for writing a word read through a Uint32Array back as the same bytes. */
const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

/** The most bytes `n` bytes of text can take escaped (all of them \u00XX). */
export function escapedMax(n: number): number {
  return 6 * n;
}

/** One byte, escaped or as it is. */
function put(out: Buffer, o: number, c: number): number {
  const e = ESCAPE[c]!;
  if (e === 0) {
    out[o] = c;
    return o + 1;
  }
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
  let i = 0;
  // Byte by byte up to a 4-byte boundary of the source's memory, then a word at a time: a word
  // with nothing to escape is written as it is (an unaligned store), the others byte by byte.
  const head = Math.min(n, (4 - (src.byteOffset & 3)) & 3);
  for (; i < head; i++) o = put(out, o, src[i]!);
  const words = (n - head) >>> 2;
  if (words > 0) {
    const w = new Uint32Array(src.buffer, src.byteOffset + head, words);
    const dv = new DataView(out.buffer, out.byteOffset, out.length);
    for (let k = 0; k < words; k++) {
      const x = w[k]!;
      const q = x ^ 0x22222222;
      const b = x ^ 0x5c5c5c5c;
      // A byte below 0x20, or equal to '"' or '\' (a zero byte of x ^ that byte, repeated): the
      // classic "has a byte less than n" test, exact as a yes/no for n <= 128.
      if ((((x - 0x20202020) & ~x) | ((q - 0x01010101) & ~q) | ((b - 0x01010101) & ~b)) & 0x80808080) {
        const at = head + (k << 2);
        o = put(out, o, src[at]!);
        o = put(out, o, src[at + 1]!);
        o = put(out, o, src[at + 2]!);
        o = put(out, o, src[at + 3]!);
      } else {
        dv.setUint32(o, x, LITTLE_ENDIAN);
        o += 4;
      }
    }
    i = head + (words << 2);
  }
  for (; i < n; i++) o = put(out, o, src[i]!);
  return o;
}
