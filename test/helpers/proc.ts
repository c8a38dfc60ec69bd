import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a program to completion (async: a client and a server in one process must not deadlock). */
export function run(cmd: string, args: readonly string[], opts: SpawnOptions & { input?: string; timeoutMs?: number } = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { ...opts, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 30_000);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    // A program that exits without reading its input must not fail the test with EPIPE.
    child.stdin!.on('error', () => {});
    child.stdin!.end(opts.input ?? '');
  });
}

/** Runs one of the project's binaries (bin/tsh, bin/tctl, bin/teleport) as a user would. */
export function cli(bin: 'tsh' | 'tctl' | 'teleport', args: readonly string[], opts: SpawnOptions & { input?: string; timeoutMs?: number } = {}): Promise<RunResult> {
  return run(process.execPath, [path.join(ROOT, 'bin', bin), ...args], { cwd: ROOT, ...opts });
}

export function tmpDir(prefix = 'tollgate-test-'): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

/** A free TCP port on 127.0.0.1 (bound and released; the small race is acceptable in tests). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

/** Waits until `predicate` holds, polling; bounded so a broken test fails instead of hanging. */
export async function waitFor(predicate: () => boolean | Promise<boolean>, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await predicate()) return;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** A long-running child whose output is collected; `stop()` ends it (SIGTERM, then SIGKILL). */
export class Background {
  output = '';
  exitCode: number | null | undefined = undefined;
  private exited: Promise<void>;

  constructor(readonly child: ChildProcess) {
    child.stdout?.on('data', (d: Buffer) => (this.output += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (this.output += d.toString()));
    this.exited = new Promise((resolve) => child.on('exit', (code) => {
      this.exitCode = code;
      resolve();
    }));
  }

  get running(): boolean {
    return this.exitCode === undefined;
  }

  async waitForOutput(text: string | RegExp, timeoutMs = 15_000): Promise<void> {
    await waitFor(
      () => {
        if (!this.running) throw new Error(`process exited (${this.exitCode}) before printing ${text}:\n${this.output}`);
        return typeof text === 'string' ? this.output.includes(text) : text.test(this.output);
      },
      `output ${text}`,
      timeoutMs,
    );
  }

  async waitForExit(timeoutMs = 10_000): Promise<number | null> {
    await Promise.race([this.exited, new Promise((r) => setTimeout(r, timeoutMs))]);
    return this.exitCode ?? null;
  }

  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<number | null> {
    if (this.running) {
      this.child.kill(signal);
      await Promise.race([this.exited, new Promise((r) => setTimeout(r, 5_000))]);
      if (this.running) {
        this.child.kill('SIGKILL');
        await this.exited;
      }
    }
    return this.exitCode ?? null;
  }
}

export function spawnBackground(cmd: string, args: readonly string[], opts: SpawnOptions = {}): Background {
  return new Background(spawn(cmd, args, { ...opts, stdio: ['ignore', 'pipe', 'pipe'] }));
}
