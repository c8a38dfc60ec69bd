/**
 * Where a trailing incomplete UTF-8 character of `b` starts: the length when there is none.
 * Looks at 3 bytes at most (a character is 4 at most), so a read cut inside a character can be
 * split there and the character completed by the next read.
 */
export function completeEnd(b: Uint8Array): number {
  const len = b.length;
  for (let i = len - 1; i >= 0 && i >= len - 3; i--) {
    const c = b[i]!;
    if ((c & 0xc0) === 0x80) continue;
    if (c < 0xc0) return len;
    const need = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : 2;
    return len - i < need ? i : len;
  }
  return len;
}
