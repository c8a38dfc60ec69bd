import fs from 'node:fs';
import path from 'node:path';

/**
 * One temp dir per test (or bench) run, removed when the run ends: the daemons' data dirs,
 * recordings (a bench stream is 128 MiB each), sshd configs and agent sockets all go under it
 * (os.tmpdir() reads TMPDIR, which the test workers inherit). Without it a few runs filled the
 * disk. Short (`/tmp/tg-XXXXXX`) so Unix socket paths below it stay under the kernel's 108 bytes.
 *
 * At the end, a process this run started that is still running (its environment names the run's
 * TMPDIR) is a test that did not stop what it started: it is killed and named, so it neither
 * outlives the run nor goes unnoticed.
 */
export default function setup(): () => void {
  const base = process.env.TMPDIR && process.env.TMPDIR !== '/tmp' ? process.env.TMPDIR : '/tmp';
  const dir = fs.mkdtempSync(path.join(base, 'tg-'));
  fs.chmodSync(dir, 0o755);
  process.env.TMPDIR = dir;
  return () => {
    const left = leftovers(`TMPDIR=${dir}`);
    for (const p of left) {
      try {
        process.kill(p.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    if (left.length > 0) console.warn(`killed ${left.length} process(es) a test left running:\n${left.map((p) => `  ${p.pid} ${p.cmd}`).join('\n')}`);
    fs.rmSync(dir, { recursive: true, force: true });
  };
}

/** Processes other than this one (and its parents) started with `marker` in their environment. */
function leftovers(marker: string): Array<{ pid: number; cmd: string }> {
  const mine = new Set([process.pid, process.ppid]);
  const out: Array<{ pid: number; cmd: string }> = [];
  for (const name of fs.readdirSync('/proc')) {
    const pid = Number(name);
    if (!Number.isInteger(pid) || mine.has(pid)) continue;
    try {
      if (!fs.readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0').includes(marker)) continue;
      const cmd = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ').trim();
      // The test runner's own workers end with it; only what the tests started is reported.
      if (/vitest|tinypool/.test(cmd)) continue;
      out.push({ pid, cmd: cmd.slice(0, 200) });
    } catch {
      // gone, or not ours to read
    }
  }
  return out;
}
