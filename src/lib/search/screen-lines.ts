import xterm from '@xterm/headless';
import type { IBuffer, IMarker, Terminal as XTerminal } from '@xterm/headless';

/*
 * What a PTY session's screen showed, as lines of text with the time each appeared, and the
 * command lines submitted at a prompt: the session's output is fed through a headless xterm, so
 * line editing, backspaces, cursor movement, colours and full-screen programs resolve to the text
 * a person saw (a hand-written VT parser would not).
 *
 * Lines are taken from the screen:
 * - a line that scrolls off the top of the screen is final;
 * - a row that changes while the cursor is elsewhere (a redraw, a cleared screen, a full-screen
 *   program scrolling) gives up its old text; the row the cursor is on is being edited, so its
 *   intermediate states (a typo before its backspace) are not lines;
 * - what the screen shows at the end is final;
 * - a full-screen program's screen (the alternate buffer) is taken the same way, each distinct
 *   line once.
 *
 * Commands (shell sessions): Enter pressed in the normal screen submits the line the cursor was
 * on. It is judged once the echo is in, when the cursor leaves that row (or at the next key, or
 * the end): if the row still shows exactly what it showed when the first key of that line was
 * typed, the keys were not echoed (a password prompt: sudo, ssh, passwd) and nothing is logged.
 * The prompt is what the row showed left of the cursor at that first key, and is stripped.
 *
 * xterm parses writes asynchronously, but runs each write's callback right after that write is
 * parsed, in order: every scan below runs in such a callback, so it sees the screen exactly as it
 * was after that event, while many events are parsed in one go.
 */

const { Terminal } = xterm;

/**
 * Lines kept above the screen by default. Output is fed to the emulator in slices of at most
 * this many bytes, each scanned before the next, and a slice cannot scroll more lines than it
 * has bytes (a line is at least a newline or a full row of characters; only explicit scroll
 * sequences such as `CSI 999 S` scroll more), so no line is trimmed before it is taken. Memory
 * is the reason it is small: xterm keeps every scrollback row allocated once it has filled
 * (about 2 KiB a row at 80 columns). Measured on streaming text at 80x24 (issue 19): 5000 rows
 * held 11.2 MiB per session (most of the daemon's 16 MiB per streaming PTY session), 1024 rows
 * 2.5 MiB, 512 rows 1.4 MiB, 256 rows 0.8 MiB but a third more CPU per byte (more scans), 512
 * and up the same CPU as 5000.
 */
export const DEFAULT_SCROLLBACK = 512;

export interface ScreenLine {
  offsetMs: number;
  text: string;
}

export interface ScreenCommand {
  offsetMs: number;
  command: string;
}

export interface ScreenLinesOptions {
  cols: number;
  rows: number;
  onLine(line: ScreenLine): void;
  /** Shell sessions: each command line submitted at a prompt. */
  onCommand?(command: ScreenCommand): void;
  /** Lines kept above the screen between two scans, and the most bytes scanned at once (default DEFAULT_SCROLLBACK). */
  scrollback?: number;
}

interface Row {
  text: string;
  time: number;
}

interface Pending {
  /** The row and the text left of the cursor when the first key of this line was typed. */
  rowAtStart: string;
  prompt: string;
}

interface Submitted extends Pending {
  time: number;
  marker: IMarker;
}

const emptyRows = (n: number): Row[] => Array.from({ length: n }, () => ({ text: '', time: 0 }));

export class ScreenLines {
  private readonly term: XTerminal;
  /** Bytes (or UTF-16 units) written at most between two scans: the scrollback's length. */
  private readonly slice: number;
  private normalRows: Row[];
  private altRows: Row[] | undefined;
  /** The alternate screen's lines already taken (a full-screen program redraws the same lines). */
  private altSeen = new Set<string>();
  /** The normal buffer's line that was the top of the screen at the last scan. */
  private top: IMarker | undefined;
  private pending: Pending | undefined;
  private submitted: Submitted | undefined;
  private ended = false;
  private disposed = false;
  /** The first error a scan threw: scans run in xterm's timers, where a throw would be uncaught. */
  private failure: Error | undefined;

  constructor(private readonly o: ScreenLinesOptions) {
    this.slice = Math.max(1, o.scrollback ?? DEFAULT_SCROLLBACK);
    this.term = new Terminal({ cols: Math.max(2, o.cols), rows: Math.max(1, o.rows), scrollback: this.slice, allowProposedApi: true });
    this.normalRows = emptyRows(this.term.rows);
  }

  /** Bytes from the node (UTF-8, as the terminal gets them), at `offsetMs`. */
  output(data: Uint8Array | string, offsetMs: number): void {
    if (this.ended) return;
    // xterm keeps a UTF-8 sequence or an escape sequence split between writes.
    for (let i = 0; i < data.length; i += this.slice) {
      const part = i === 0 && data.length <= this.slice ? data : typeof data === 'string' ? data.slice(i, i + this.slice) : data.subarray(i, i + this.slice);
      this.term.write(part, this.guard(() => this.scan(offsetMs)));
    }
  }

  /** Keys from the client, at `offsetMs`: only read for Enter and the start of a line. */
  input(data: Uint8Array | string, offsetMs: number): void {
    if (this.ended || !this.o.onCommand) return;
    const text = typeof data === 'string' ? data : Buffer.from(data).toString('latin1');
    // Runs after the output written before it has been parsed.
    this.term.write('', this.guard(() => this.keys(text, offsetMs)));
  }

  resize(cols: number, rows: number, offsetMs: number): void {
    if (this.ended) return;
    this.term.write('', this.guard(() => {
      this.flushScreen(offsetMs);
      this.term.resize(Math.max(2, cols), Math.max(1, rows));
      this.normalRows = emptyRows(this.term.rows);
      this.altRows = this.altRows && emptyRows(this.term.rows);
      this.top?.dispose();
      this.top = undefined;
      this.scan(offsetMs);
    }));
  }

  /** Runs a write callback unless the emulator is gone; keeps its error for end() instead of throwing in a timer. */
  private guard(fn: () => void): () => void {
    return () => {
      if (this.disposed || this.failure) return;
      try {
        fn();
      } catch (err) {
        this.failure = err as Error;
      }
    };
  }

  /** Resolves when everything written so far has been parsed and scanned. */
  flush(): Promise<void> {
    return new Promise((resolve) => this.term.write('', resolve));
  }

  /** The session is over: takes what the screen still shows, then frees the emulator. */
  async end(offsetMs: number): Promise<void> {
    if (this.ended) return;
    await this.flush();
    this.ended = true;
    try {
      if (this.failure) throw this.failure;
      if (this.submitted) this.judge(this.submitted);
      this.flushScreen(offsetMs);
    } finally {
      this.dispose();
    }
  }

  /** Frees the emulator without taking what it still holds (the indexer was dropped). */
  dispose(): void {
    this.ended = true;
    if (this.disposed) return;
    this.disposed = true;
    this.top?.dispose();
    this.term.dispose();
  }

  private get buf(): IBuffer {
    return this.term.buffer.active;
  }

  private emit(text: string, time: number, alt: boolean): void {
    const t = text.trimEnd();
    if (!t.trim()) return;
    if (alt) {
      if (this.altSeen.has(t)) return;
      this.altSeen.add(t);
    }
    this.o.onLine({ offsetMs: time, text: t });
  }

  /** Takes every line the screen shows now (before a resize, at the end). */
  private flushScreen(now: number): void {
    this.scan(now);
    if (this.altRows) for (const r of this.altRows) this.emit(r.text, r.time, true);
    for (const r of this.normalRows) this.emit(r.text, r.time, false);
    this.altRows = this.altRows && emptyRows(this.term.rows);
    this.normalRows = emptyRows(this.term.rows);
  }

  private scan(now: number): void {
    const buf = this.buf;
    const alt = buf.type === 'alternate';
    if (alt && !this.altRows) {
      this.altRows = emptyRows(this.term.rows);
      this.altSeen = new Set();
      this.pending = undefined;
    } else if (!alt && this.altRows) {
      // Leaving a full-screen program: its last screen is final.
      for (const r of this.altRows) this.emit(r.text, r.time, true);
      this.altRows = undefined;
    }
    if (!alt) this.scrolled(buf, now);
    const rows = alt ? this.altRows! : this.normalRows;
    for (let r = 0; r < rows.length; r++) {
      const text = buf.getLine(buf.baseY + r)?.translateToString(true) ?? '';
      const was = rows[r]!;
      if (text === was.text) continue;
      if (was.text && r !== buf.cursorY && !text.startsWith(was.text)) this.emit(was.text, was.time, alt);
      // A row keeps the time it first showed text while it is being typed on or added to.
      const continued = was.text !== '' && (r === buf.cursorY || text.startsWith(was.text));
      rows[r] = { text, time: continued ? was.time : now };
    }
    if (this.submitted && !alt && this.submitted.marker.line !== buf.baseY + buf.cursorY) this.judge(this.submitted);
  }

  /** Lines that went above the screen since the last scan are final. */
  private scrolled(buf: IBuffer, now: number): void {
    const top = this.top;
    const gone = top === undefined ? (buf.baseY > 0 ? Infinity : 0) : top.isDisposed || top.line < 0 ? Infinity : buf.baseY - top.line;
    if (gone > 0) {
      // After a trim the old top is gone; whatever is still above the screen came after it.
      const from = gone === Infinity ? 0 : top!.line;
      let text = '';
      let time = now;
      for (let i = from; i < buf.baseY; i++) {
        const line = buf.getLine(i);
        if (!line) continue;
        const row = gone === Infinity ? undefined : this.normalRows[i - from];
        if (!line.isWrapped) {
          this.emit(text, time, false);
          text = '';
          time = row?.text ? row.time : now;
        }
        text += line.translateToString(!buf.getLine(i + 1)?.isWrapped);
      }
      this.emit(text, time, false);
      this.normalRows = gone >= this.normalRows.length ? emptyRows(this.term.rows) : [...this.normalRows.slice(gone), ...emptyRows(gone)];
    }
    if (gone !== 0 || !top) {
      top?.dispose();
      this.top = this.term.registerMarker(-buf.cursorY);
    }
  }

  private keys(text: string, now: number): void {
    const buf = this.buf;
    if (buf.type === 'alternate') return;
    for (const ch of text) {
      if (ch === '\r' || ch === '\n') {
        if (this.submitted) this.judge(this.submitted);
        if (!this.pending) continue;
        const marker = this.term.registerMarker(0);
        if (marker) this.submitted = { ...this.pending, time: now, marker };
        this.pending = undefined;
      } else if (!this.pending) {
        if (this.submitted) this.judge(this.submitted);
        const row = buf.getLine(buf.baseY + buf.cursorY)?.translateToString(true) ?? '';
        this.pending = { rowAtStart: row, prompt: row.slice(0, buf.cursorX) };
      }
    }
  }

  /** Decides what a submitted line was, once its echo is on the screen. */
  private judge(s: Submitted): void {
    this.submitted = undefined;
    const buf = this.buf;
    let first = s.marker.line;
    s.marker.dispose();
    if (first < 0) return;
    // The whole logical line: up over the rows it wrapped from, down over those it wraps onto.
    while (first > 0 && buf.getLine(first)?.isWrapped) first--;
    let text = '';
    for (let i = first; i < buf.length; i++) {
      const line = buf.getLine(i);
      if (!line || (i > first && !line.isWrapped)) break;
      text += line.translateToString(!buf.getLine(i + 1)?.isWrapped);
    }
    text = text.trimEnd();
    // Nothing the user typed reached the screen: a no-echo prompt. Never a command.
    if (text === s.rowAtStart.trimEnd()) return;
    let command = text;
    if (s.prompt.trim() && text.startsWith(s.prompt)) command = text.slice(s.prompt.length);
    // Keys typed before the prompt was drawn: strip what looks like a prompt ("user@host:~$ ").
    else if (s.prompt.trim()) command = text.replace(/^\S*[$#%>❯]\s/u, '');
    command = command.trim();
    if (command) this.o.onCommand?.({ offsetMs: s.time, command });
  }
}
