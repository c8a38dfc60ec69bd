import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, it } from 'vitest';
import { ROOT, tmpDir } from '../test/helpers/proc.js';

/* tsh play on a synthetic 1 GiB recording: time to first output and --format=text throughput. */
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
  return new Promise((resolve) => {
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
    child.on('close', () => resolve({ first, total: (performance.now() - t0) / 1000, bytes }));
  });
}

it('tsh play on 1 GiB', async () => {
  const pty = await play(['--format=pty', '--speed=16']);
  const text = await play(['--format=text']);
  const t0 = performance.now();
  await new Promise<void>((r) => spawn(process.execPath, [path.join(ROOT, 'bin/tsh'), '--help'], { stdio: 'ignore' }).on('close', () => r()));
  const help = performance.now() - t0;
  console.log(`${'tsh play 1 GiB: time to first output'.padEnd(44)} ${pty.first.toFixed(0)} ms (tsh --help alone: ${help.toFixed(0)} ms)`);
  console.log(`${'tsh play --format=text 1 GiB'.padEnd(44)} ${text.total.toFixed(1)} s, ${(SIZE / 1e6 / text.total).toFixed(0)} MB/s of recording`);
  fs.mkdirSync(path.join(ROOT, 'bench/results'), { recursive: true });
  fs.writeFileSync(path.join(ROOT, 'bench/results', `play-${new Date().toISOString().slice(0, 10)}.json`), `${JSON.stringify({ first_output_ms: pty.first, help_ms: help, text_seconds: text.total, text_mb_per_s: SIZE / 1e6 / text.total }, null, 2)}\n`);
});
