import { run, waitFor } from './proc.js';

let counter = 0;

/**
 * A program running in a real terminal (tmux on a private server socket), driven like a person:
 * read the screen, type keys. Used for prompts that only appear on a TTY.
 */
export class TmuxSession {
  private readonly socket = `tollgate-test-${process.pid}-${counter++}`;
  private readonly name = 'main';

  static async start(command: string, opts: { width?: number; height?: number } = {}): Promise<TmuxSession> {
    const s = new TmuxSession();
    // `; sleep` keeps the pane readable after the program exits, until kill().
    const r = await run('tmux', ['-L', s.socket, 'new-session', '-d', '-s', s.name, '-x', String(opts.width ?? 200), '-y', String(opts.height ?? 50), `${command}; echo "__EXIT=$?"; sleep 600`]);
    if (r.code !== 0) throw new Error(`tmux failed: ${r.stderr}`);
    return s;
  }

  async screen(): Promise<string> {
    const r = await run('tmux', ['-L', this.socket, 'capture-pane', '-p', '-J', '-S', '-200', '-t', this.name]);
    return r.stdout;
  }

  async waitFor(text: string | RegExp, timeoutMs = 15_000): Promise<string> {
    let last = '';
    try {
      await waitFor(async () => {
        last = await this.screen();
        return typeof text === 'string' ? last.includes(text) : text.test(last);
      }, `terminal to show ${text}`, timeoutMs);
    } catch (err) {
      throw new Error(`${(err as Error).message}; screen was:\n${last}`);
    }
    return last;
  }

  /** Types `text` literally, then Enter. */
  async type(text: string): Promise<void> {
    await run('tmux', ['-L', this.socket, 'send-keys', '-t', this.name, '-l', text]);
    await run('tmux', ['-L', this.socket, 'send-keys', '-t', this.name, 'Enter']);
  }

  /** Waits for the program to exit and returns its exit code and screen. */
  async exit(timeoutMs = 20_000): Promise<{ code: number; screen: string }> {
    const screen = await this.waitFor(/__EXIT=\d+/, timeoutMs);
    return { code: Number(/__EXIT=(\d+)/.exec(screen)![1]), screen };
  }

  /** Types keys literally, without Enter. */
  async send(keys: string): Promise<void> {
    await run('tmux', ['-L', this.socket, 'send-keys', '-t', this.name, '-l', keys]);
  }

  /** Sends named keys (tmux key names: `BSpace`, `C-c`, `Enter`), as a person pressing them. */
  async keys(...names: string[]): Promise<void> {
    await run('tmux', ['-L', this.socket, 'send-keys', '-t', this.name, ...names]);
  }

  /** Sends named keys (tmux key names: `C-c`, `C-]`, `Escape`). */
  async sendKey(key: string): Promise<void> {
    await run('tmux', ['-L', this.socket, 'send-keys', '-t', this.name, key]);
  }

  /** Resizes the terminal, as a user dragging the window would. */
  async resize(cols: number, rows: number): Promise<void> {
    await run('tmux', ['-L', this.socket, 'resize-window', '-t', this.name, '-x', String(cols), '-y', String(rows)]);
  }

  async kill(): Promise<void> {
    await run('tmux', ['-L', this.socket, 'kill-server']);
  }
}

/** Quotes for a POSIX shell command line. */
export function shq(s: string): string {
  return `'${s.replaceAll("'", "'\\''")}'`;
}
