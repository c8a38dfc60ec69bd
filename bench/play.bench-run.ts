import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, it } from 'vitest';
import { ROOT, tmpDir } from '../test/helpers/proc.js';

/*
 * tsh play on a synthetic 1 GiB recording (time to first output, --format=text throughput) and
 * tsh --help cold start beside bare node start-up. Writes bench/results/play-<date>.json.
 */
let dir: string;
let big: string;
const SIZE = 1024 ** 3;

beforeAll(() => {
  dir = tmpDir('tollgate-bench-play-');
  big = path.join(dir, 'big.cast');
  const fd = fs.openSync(big, 'w');
  fs.writeSync(fd, `${JSON.stringify({ version: 2, width: 80, height: 24, timestamp: 0 })}\n`);
  const chunk = Buffer.from(`[0.5,"o","${'x'.repeat(1000)}\\r\\n"]\n`.repeat(1024));
  for (let written = 0; written < SIZE; written += chunk.length) fs.writeSync(fd, chunk);
  fs.closeSync(fd);
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

function play(args: string[]): Promise<{ first: number; total: number; bytes: number }> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn(process.execPath, [path.join(ROOT, 'bin/tsh'), 'play', big, ...args], { stdio: ['ignore', 'pipe', 'ignore'] });
    let first = 0;
    let bytes = 0;
    child.stdout.on('data', (d: Buffer) => {
      if (!first) {
        first = performance.now() - t0;
        if (args.includes('--format=pty')) child.kill();
      }
      bytes += d.length;
    });
    child.on('close', (code, signal) => {
      // pty mode is killed at its first output; text mode must run to the end, successfully.
      if (!first || (!args.includes('--format=pty') && (code !== 0 || signal))) reject(new Error(`tsh play ${args.join(' ')} failed (${code ?? signal}) after ${bytes} bytes`));
      else resolve({ first, total: (performance.now() - t0) / 1000, bytes });
    });
  });
}

const line = (label: string, text: string) => console.log(`${label.padEnd(44)} ${text}`);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const results: Record<string, unknown> = {};

afterAll(() => {
  fs.mkdirSync(path.join(ROOT, 'bench/results'), { recursive: true });
  fs.writeFileSync(path.join(ROOT, 'bench/results', `play-${new Date().toISOString().slice(0, 10)}.json`), `${JSON.stringify(results, null, 2)}\n`);
});

it('tsh play on 1 GiB', async () => {
  const pty = await play(['--format=pty', '--speed=16']);
  const text = await play(['--format=text']);
  line('tsh play 1 GiB: time to first output', `${pty.first.toFixed(0)} ms (--format=pty), ${text.first.toFixed(0)} ms (--format=text)`);
  line('tsh play --format=text 1 GiB', `${text.total.toFixed(1)} s, ${(SIZE / 1e6 / text.total).toFixed(0)} MB/s of recording`);
  Object.assign(results, { first_output_ms: pty.first, text_first_output_ms: text.first, text_seconds: text.total, text_mb_per_s: SIZE / 1e6 / text.total });
});

/** Wall time of one process run to its exit, in ms. */
function wall(args: string[]): Promise<number> {
  const t0 = performance.now();
  return new Promise((resolve, reject) =>
    spawn(process.execPath, args, { cwd: ROOT, stdio: 'ignore' }).on('close', (code) => (code === 0 ? resolve(performance.now() - t0) : reject(new Error(`node ${args.join(' ')} exited ${code}`)))),
  );
}

it('tsh --help cold start', async () => {
  // Side by side, alternating: node starting and exiting with nothing to do is the floor.
  const help: number[] = [];
  const node: number[] = [];
  for (let i = 0; i < 5; i++) {
    help.push(await wall([path.join(ROOT, 'bin/tsh'), '--help']));
    node.push(await wall(['-e', '']));
  }
  line('tsh --help cold start (median of 5)', `${median(help).toFixed(0)} ms  (node -e "" alone: ${median(node).toFixed(0)} ms)`);
  Object.assign(results, { help_ms: median(help), help_runs_ms: help, node_startup_ms: median(node) });
});
