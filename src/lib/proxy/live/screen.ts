import headless from '@xterm/headless';
import serialize from '@xterm/addon-serialize';

// Both packages are CommonJS; their named exports are only reachable through the default import on Node 20.
const { Terminal } = headless;
const { SerializeAddon } = serialize;

/** Output waiting for the emulator past which older output is skipped (see TerminalScreen). */
export const SCREEN_BACKLOG_BYTES = 2 * 1024 * 1024;
/** What is kept when the backlog is skipped: far more than any screen holds. */
export const SCREEN_TAIL_BYTES = 512 * 1024;
/** One emulator write; xterm parses it and calls back before the next is handed over. */
const SLICE_BYTES = 64 * 1024;

/**
 * The current screen of one live PTY session, kept by a headless terminal emulator so an observer
 * who joins after hours (or after 50 MB of output) is painted the screen as it is now, at once,
 * instead of a replay from the start.
 *
 * The emulator never holds the session up: output is queued and fed to xterm in slices, each on a
 * later turn of the event loop (xterm's own write buffer runs asynchronously). When output arrives
 * faster than xterm parses it (a `cat` of a large file), the queue is bounded: past
 * SCREEN_BACKLOG_BYTES the emulator is reset and fed only the last SCREEN_TAIL_BYTES. For scrolling
 * output that tail redraws the whole screen; a full-screen program painting megabytes at once may
 * show a partial screen until its next redraw. That is the "skip ahead" the issue allows, and it
 * is what keeps the paint under a second however much was printed.
 */
export class TerminalScreen {
  private readonly term: InstanceType<typeof Terminal>;
  private readonly ser: InstanceType<typeof SerializeAddon>;
  private queue: Array<Buffer | { cols: number; rows: number }> = [];
  private queued = 0;
  private writing = false;
  private waiters: Array<() => void> = [];
  /** Output bytes skipped because the emulator was behind (for the log and the tests). */
  skipped = 0;

  constructor(cols: number, rows: number) {
    this.term = new Terminal({ cols, rows, scrollback: 0, allowProposedApi: true });
    this.ser = new SerializeAddon();
    this.term.loadAddon(this.ser);
  }

  get cols(): number {
    return this.term.cols;
  }

  get rows(): number {
    return this.term.rows;
  }

  /** Output from the node, in order. */
  output(data: Buffer): void {
    this.queue.push(data);
    this.queued += data.length;
    if (this.queued > SCREEN_BACKLOG_BYTES) this.skipAhead();
    this.pump();
  }

  /** A resize, in order with the output (queued, so it applies between the right bytes). */
  resize(cols: number, rows: number): void {
    this.queue.push({ cols, rows });
    this.pump();
  }

  /**
   * Resolves with escape sequences that paint the screen as it is after everything given to
   * output() so far, into a terminal of the same size (cursor position included).
   */
  async snapshot(): Promise<{ cols: number; rows: number; paint: string }> {
    await this.flushed();
    return { cols: this.term.cols, rows: this.term.rows, paint: this.ser.serialize({ scrollback: 0 }) };
  }

  /** The visible lines as text (tests, and the web view's plain fallback). */
  async text(): Promise<string[]> {
    await this.flushed();
    const b = this.term.buffer.active;
    const out: string[] = [];
    for (let i = 0; i < this.term.rows; i++) out.push(b.getLine(b.viewportY + i)?.translateToString(true) ?? '');
    return out;
  }

  /**
   * The skip-ahead decided by a caller that held output back (the worker's host, screen-host.ts):
   * what is queued is dropped (its last size still applies), counted with the `skipped` bytes the
   * caller dropped, and the screen is reset; the output given next is the tail to draw.
   */
  restart(skipped: number): void {
    const size = this.queue.findLast((q): q is { cols: number; rows: number } => !Buffer.isBuffer(q));
    if (size) this.term.resize(size.cols, size.rows);
    this.skipped += skipped + this.queued;
    this.queue = [Buffer.from('\u001bc')];
    this.queued = 0;
    this.pump();
  }

  dispose(): void {
    this.queue = [];
    this.queued = 0;
    this.term.dispose();
    for (const w of this.waiters.splice(0)) w();
  }

  private flushed(): Promise<void> {
    if (!this.writing && this.queue.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  private skipAhead(): void {
    const all = Buffer.concat(this.queue.filter((q): q is Buffer => Buffer.isBuffer(q)));
    // The last size still applies to the tail.
    const size = this.queue.findLast((q): q is { cols: number; rows: number } => !Buffer.isBuffer(q));
    if (size) this.term.resize(size.cols, size.rows);
    const tail = all.subarray(all.length - SCREEN_TAIL_BYTES);
    this.skipped += all.length - tail.length;
    // A reset, then the tail: from a cleared screen the tail draws what the terminal would show.
    this.queue = [Buffer.from('\u001bc'), tail];
    this.queued = tail.length;
  }

  private pump(): void {
    if (this.writing) return;
    const next = this.queue.shift();
    if (!next) {
      for (const w of this.waiters.splice(0)) w();
      return;
    }
    if (!Buffer.isBuffer(next)) {
      this.term.resize(next.cols, next.rows);
      return this.pump();
    }
    this.writing = true;
    let slice = next;
    if (next.length > SLICE_BYTES) {
      slice = next.subarray(0, SLICE_BYTES);
      this.queue.unshift(next.subarray(SLICE_BYTES));
    }
    this.queued -= slice.length;
    this.term.write(slice, () => {
      this.writing = false;
      this.pump();
    });
  }
}
