import fs from 'node:fs';
import path from 'node:path';

/**
 * One temp dir per test (or bench) run, removed when the run ends: the daemons' data dirs,
 * recordings (a bench stream is 128 MiB each), sshd configs and agent sockets all go under it
 * (os.tmpdir() reads TMPDIR, which the test workers inherit). Without it a few runs filled the
 * disk. Short (`/tmp/tg-XXXXXX`) so Unix socket paths below it stay under the kernel's 108 bytes.
 */
export default function setup(): () => void {
  const base = process.env.TMPDIR && process.env.TMPDIR !== '/tmp' ? process.env.TMPDIR : '/tmp';
  const dir = fs.mkdtempSync(path.join(base, 'tg-'));
  fs.chmodSync(dir, 0o755);
  process.env.TMPDIR = dir;
  return () => fs.rmSync(dir, { recursive: true, force: true });
}
