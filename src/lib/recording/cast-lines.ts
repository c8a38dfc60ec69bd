import fs from 'node:fs';

/*
 * The one place `.cast` (and `.cast.chain`) bytes are cut into lines. asciicast v2 is
 * newline-delimited JSON: every line, the header and each event, ends with "\n" (0x0a), and the
 * writer never emits "\r\n". A line is split on the byte, never on decoded text: 0x0a cannot occur
 * inside a multi-byte UTF-8 sequence, so a line cut out of the bytes always decodes whole, however
 * the chunks it arrived in split its characters. Offsets are byte offsets from the start of the
 * input, the unit the integrity chain and the shipper count in.
 */
const NL = 0x0a;

/** One line of the input and where it is. */
export interface CastLine {
  /** Byte offset of the line's first byte. */
  offset: number;
  /** The line's bytes without its "\n" (a view into the chunk when the line did not span chunks). */
  bytes: Buffer;
  /** False only for an unterminated last line (a recording cut short, or still being written). */
  complete: boolean;
}

/**
 * A streaming line scanner: feed it chunks in order, get back the lines they complete. It holds
 * only the unterminated rest of the input (a copy, so a large chunk is not kept alive by a few
 * bytes of it).
 */
export class CastLineScanner {
  private pos = 0;
  private lineStart = 0;
  private held: Buffer[] = [];

  /** Bytes fed so far: the offset the next chunk starts at. */
  get offset(): number {
    return this.pos;
  }

  /**
   * Cuts `chunk` at its newlines without copying or joining: `onPiece` gets each piece in order (a
   * view into the chunk, its "\n" included when `ends`), with the offset of the line it belongs
   * to. For callers that must never hold a line whole (verification: an altered file can be one
   * huge line). Stops, and returns false, when `onPiece` returns false. Do not mix with push() on
   * one scanner.
   */
  split(chunk: Buffer, onPiece: (piece: Buffer, lineOffset: number, ends: boolean) => boolean | void): boolean {
    let start = 0;
    while (start < chunk.length) {
      const nl = chunk.indexOf(NL, start);
      const end = nl === -1 ? chunk.length : nl + 1;
      const lineOffset = this.lineStart;
      this.pos += end - start;
      if (nl !== -1) this.lineStart = this.pos;
      const go = onPiece(chunk.subarray(start, end), lineOffset, nl !== -1);
      start = end;
      if (go === false) return false;
    }
    return true;
  }

  /**
   * Feeds a chunk; returns the lines it completes, in order. Only a line that spans chunks is
   * copied (its pieces joined); the rest of the chunk after its last "\n" is kept for the next.
   */
  push(chunk: Buffer): CastLine[] {
    const lines: CastLine[] = [];
    this.scan(chunk, (buf, start, end, offset) => void lines.push({ offset, bytes: buf.subarray(start, end), complete: true }));
    return lines;
  }

  /**
   * The hot path of `tsh play` (a million lines per GiB): for each line the chunk completes,
   * `onLine(buf, start, end, offset)` with the line at `buf[start, end)` without its "\n" (a view
   * into the chunk, or a joined copy for a line that spans chunks). No object per line. Stops,
   * and returns false, when `onLine` returns false; the scanner is not fed after that.
   */
  scan(chunk: Buffer, onLine: (buf: Buffer, start: number, end: number, offset: number) => boolean | void): boolean {
    let start = 0;
    for (let nl = chunk.indexOf(NL); nl !== -1; nl = chunk.indexOf(NL, start)) {
      const offset = this.lineStart;
      this.pos += nl + 1 - start;
      this.lineStart = this.pos;
      let go: boolean | void;
      if (this.held.length > 0) {
        const joined = Buffer.concat([...this.held, chunk.subarray(start, nl)]);
        this.held = [];
        go = onLine(joined, 0, joined.length, offset);
      } else {
        go = onLine(chunk, start, nl, offset);
      }
      start = nl + 1;
      if (go === false) return false;
    }
    if (start < chunk.length) {
      this.held.push(Buffer.from(chunk.subarray(start)));
      this.pos += chunk.length - start;
    }
    return true;
  }

  /** Ends the input: the unterminated last line, if the input did not end with "\n". */
  end(): CastLine | undefined {
    if (this.held.length === 0) return undefined;
    const bytes = this.held.length === 1 ? this.held[0]! : Buffer.concat(this.held);
    this.held = [];
    const line = { offset: this.lineStart, bytes, complete: false };
    this.lineStart = this.pos;
    return line;
  }
}

/** All lines of one buffer, the unterminated last one included (as `complete: false`). */
export function splitCastLines(data: Buffer): CastLine[] {
  const scanner = new CastLineScanner();
  const lines = scanner.push(data);
  const last = scanner.end();
  if (last) lines.push(last);
  return lines;
}

/**
 * A line's text: UTF-8, with a byte order mark before the first line and a "\r" before the "\n"
 * dropped (tollgate never writes either; files edited elsewhere may have them).
 */
export function castLineText(line: CastLine): string {
  return castText(line.bytes, 0, line.bytes.length, line.offset);
}

/** castLineText over `buf[start, end)`, a line at byte `offset` of the input (for scan()). */
export function castText(buf: Buffer, start: number, end: number, offset: number): string {
  if (end > start && buf[end - 1] === 0x0d) end--;
  const text = buf.toString('utf8', start, end);
  return offset === 0 && text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
}

/**
 * The lines of a stream, one batch per chunk read: a million small events do not cost a million
 * promises. The unterminated last line, if any, comes last in a batch of its own. String chunks
 * are taken as UTF-8. Returning early (break) closes the source.
 */
export async function* castLineBatches(source: AsyncIterable<Buffer | string>): AsyncGenerator<CastLine[]> {
  const scanner = new CastLineScanner();
  for await (const chunk of source) {
    const lines = scanner.push(typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
    if (lines.length > 0) yield lines;
  }
  const last = scanner.end();
  if (last) yield [last];
}

/** The lines of a stream, one at a time (see castLineBatches). */
export async function* castLines(source: AsyncIterable<Buffer | string>): AsyncGenerator<CastLine> {
  for await (const batch of castLineBatches(source)) yield* batch;
}

/**
 * Where the whole lines of a file's byte range [from, to) end: the offset just after its last
 * "\n", or `from` when the range holds no complete line yet. Reads backwards from `to` in 64 KiB
 * windows, so a live recording of any size costs one small read. What a reader of a recording
 * that is still being written may see (a half-written last line could still change).
 */
export function wholeLinesEnd(fd: number, from: number, to: number): number {
  const buf = Buffer.alloc(Math.min(64 * 1024, Math.max(0, to - from)));
  for (let end = to; end > from; ) {
    const start = Math.max(from, end - buf.length);
    const n = fs.readSync(fd, buf, 0, end - start, start);
    if (n <= 0) return from;
    const nl = buf.subarray(0, n).lastIndexOf(NL);
    if (nl !== -1) return start + nl + 1;
    end = start;
  }
  return from;
}
