import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, it } from 'vitest';
import { startCluster, type Cluster } from '../test/helpers/cluster.js';
import { ROOT, run, tmpDir } from '../test/helpers/proc.js';

/*
 * Proxy figures measured side by side in one run against the same real sshd on loopback:
 * direct OpenSSH, a stock OpenSSH bastion (`ssh -J` through sshd itself, no recording),
 * tollgate's `tsh ssh` (one SSH layer to the proxy) and plain `ssh -J` through tollgate.
 * Prints one line per figure and writes bench/results/proxy-<date>.json.
 */
const STREAM_BYTES = 256 * 1024 * 1024;
const REPEAT = 3;
const results: Record<string, unknown> = { machine: `${process.platform} ${process.arch} node ${process.version}`, date: new Date().toISOString() };
let c: Cluster;
let cfg: string;

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((xs.length * p) / 100))]!;
const line = (label: string, text: string) => console.log(`${label.padEnd(44)} ${text}`);

async function timed(cmd: string, env = process.env): Promise<number> {
  const t = performance.now();
  const r = await run('bash', ['-c', cmd], { env, cwd: ROOT, timeoutMs: 300_000 });
  if (r.code !== 0) throw new Error(`${cmd} failed (${r.code}): ${r.stderr}`);
  return (performance.now() - t) / 1000;
}

async function best(cmd: string, env = process.env): Promise<number> {
  const times: number[] = [];
  for (let i = 0; i < REPEAT; i++) times.push(await timed(cmd, env));
  return Math.min(...times);
}

beforeAll(async () => {
  c = await startCluster();
  const work = tmpDir('tollgate-bench-');
  const kh = path.join(work, 'known_hosts');
  fs.writeFileSync(kh, (await c.daemon.tctl(['auth', 'export', '--type=host', '--host-pattern=*'])).stdout);
  cfg = path.join(work, 'ssh_config');
  fs.writeFileSync(cfg, ['Host *', '  StrictHostKeyChecking yes', `  UserKnownHostsFile ${kh}`, '  GlobalKnownHostsFile /dev/null', '  BatchMode yes', `  IdentityAgent ${c.agent.socket}`, '  LogLevel ERROR', ''].join('\n'));
});
afterAll(async () => {
  fs.mkdirSync(path.join(ROOT, 'bench/results'), { recursive: true });
  const file = path.join(ROOT, 'bench/results', `proxy-${new Date().toISOString().slice(0, 10)}.json`);
  fs.writeFileSync(file, `${JSON.stringify(results, null, 2)}\n`);
  console.log(`results written to ${path.relative(ROOT, file)}`);
  await c?.stop();
});

it('throughput, 256 MiB from the node', async () => {
  const p = c.sshd.port;
  const remote = `head -c ${STREAM_BYTES} /dev/zero`;
  const direct = await best(`ssh -F ${cfg} -p ${p} root@127.0.0.1 '${remote}' > /dev/null`);
  // `localhost` as the node name: ssh refuses a jump to the very same host name ("jumphost loop").
  const bastion = await best(`ssh -F ${cfg} -J root@127.0.0.1:${p} -p ${p} root@localhost '${remote}' > /dev/null`);
  const tsh = await best(`node bin/tsh ssh --port=${p} root@127.0.0.1 '${remote}' > /dev/null`, c.env);
  const jump = await best(`ssh -F ${cfg} -A -J joe@127.0.0.1:${c.sshPort} -p ${p} root@127.0.0.1 '${remote}' > /dev/null`);
  const mbs = (t: number) => `${(STREAM_BYTES / 1e6 / t).toFixed(0)} MB/s`;
  line('direct OpenSSH', `${direct.toFixed(2)} s  ${mbs(direct)}  1.00`);
  line('OpenSSH bastion (ssh -J, no recording)', `${bastion.toFixed(2)} s  ${mbs(bastion)}  ${(direct / bastion).toFixed(2)} of direct`);
  line('tollgate tsh ssh (recorded)', `${tsh.toFixed(2)} s  ${mbs(tsh)}  ${(direct / tsh).toFixed(2)} of direct`);
  line('tollgate ssh -A -J (recorded)', `${jump.toFixed(2)} s  ${mbs(jump)}  ${(direct / jump).toFixed(2)} of direct`);
  results.throughput = { bytes: STREAM_BYTES, seconds: { direct, bastion, tsh, jump }, ratio_of_direct: { bastion: direct / bastion, tsh: direct / tsh, jump: direct / jump } };
});

/** Round trips of one byte through `cat` on the node: what a keystroke echo costs. */
async function echoLatency(cmd: string[], env: NodeJS.ProcessEnv, n = 200): Promise<number[]> {
  const child = spawn(cmd[0]!, cmd.slice(1), { env, cwd: ROOT, stdio: ['pipe', 'pipe', 'ignore'] });
  const samples: number[] = [];
  await new Promise<void>((resolve, reject) => {
    let t = 0;
    let warm = 5;
    const send = () => {
      t = performance.now();
      child.stdin.write('x');
    };
    child.stdout.on('data', () => {
      const dt = performance.now() - t;
      if (warm > 0) warm--;
      else samples.push(dt);
      if (samples.length >= n) {
        child.stdin.end();
        resolve();
      } else setTimeout(send, 2);
    });
    child.on('error', reject);
    // Give the session time to start before the first keystroke.
    setTimeout(send, 3000);
  });
  child.kill();
  return samples;
}

it('keystroke echo round trip', async () => {
  const p = String(c.sshd.port);
  const direct = await echoLatency(['ssh', '-F', cfg, '-p', p, 'root@127.0.0.1', 'cat'], process.env);
  const tsh = await echoLatency([process.execPath, 'bin/tsh', 'ssh', `--port=${p}`, 'root@127.0.0.1', 'cat'], c.env);
  const jump = await echoLatency(['ssh', '-F', cfg, '-A', '-J', `joe@127.0.0.1:${c.sshPort}`, '-p', p, 'root@127.0.0.1', 'cat'], process.env);
  const fmt = (xs: number[]) => `p50 ${pct(xs, 50).toFixed(2)} ms  p99 ${pct(xs, 99).toFixed(2)} ms`;
  line('echo direct OpenSSH', fmt(direct));
  line('echo tsh ssh', `${fmt(tsh)}  added p50 ${(pct(tsh, 50) - pct(direct, 50)).toFixed(2)} ms p99 ${(pct(tsh, 99) - pct(direct, 99)).toFixed(2)} ms`);
  line('echo ssh -J through tollgate', `${fmt(jump)}  added p50 ${(pct(jump, 50) - pct(direct, 50)).toFixed(2)} ms p99 ${(pct(jump, 99) - pct(direct, 99)).toFixed(2)} ms`);
  results.echo_ms = {
    direct: { p50: pct(direct, 50), p99: pct(direct, 99) },
    tsh: { p50: pct(tsh, 50), p99: pct(tsh, 99) },
    jump: { p50: pct(jump, 50), p99: pct(jump, 99) },
  };
});

it('wall time of a trivial command', async () => {
  const p = c.sshd.port;
  const runs = async (cmd: string, env = process.env) => {
    const xs: number[] = [];
    for (let i = 0; i < 7; i++) xs.push(await timed(cmd, env));
    return median(xs);
  };
  const direct = await runs(`ssh -F ${cfg} -p ${p} root@127.0.0.1 true`);
  const bastion = await runs(`ssh -F ${cfg} -J root@127.0.0.1:${p} -p ${p} root@localhost true`);
  const tsh = await runs(`node bin/tsh ssh --port=${p} root@127.0.0.1 true`, c.env);
  line('ssh NODE true (median of 7)', `${direct.toFixed(3)} s`);
  line('ssh -J bastion NODE true', `${bastion.toFixed(3)} s  ${(bastion / direct).toFixed(2)}x direct`);
  line('tsh ssh NODE true', `${tsh.toFixed(3)} s  ${(tsh / direct).toFixed(2)}x direct`);
  results.true_seconds = { direct, bastion, tsh, ratio_tsh: tsh / direct };
});

it('proxy RSS with 50 concurrent streaming sessions', async () => {
  const pid = c.daemon.process.child.pid!;
  const rss = () => Number(/VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) / 1024;
  const idle = rss();
  let streamed = 0;
  const clients = [];
  for (let n = 0; n < 50; n++) {
    await new Promise((r) => setTimeout(r, 40));
    clients.push((() => {
    const ch = spawn('ssh', ['-F', cfg, '-A', '-J', `joe@127.0.0.1:${c.sshPort}`, '-p', String(c.sshd.port), 'root@127.0.0.1', 'for i in $(seq 400); do yes tollgate-streaming-text | head -c 16384; sleep 0.25; done'], { stdio: ['ignore', 'pipe', 'ignore'] });
    ch.stdout.on('data', (d: Buffer) => (streamed += d.length));
    return ch;
    })());
  }
  // Wait until (nearly) all sessions stream, then watch the peak for 10 s.
  const started = () => (c.daemon.process.output.match(/session started/g) ?? []).length;
  const base = started();
  const waitUntil = Date.now() + 60_000;
  while (started() - base < 50 && Date.now() < waitUntil) await new Promise((r) => setTimeout(r, 250));
  const active = started() - base;
  let peak = idle;
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 250));
    peak = Math.max(peak, rss());
  }
  for (const ch of clients) ch.kill();
  line('proxy RSS idle', `${idle.toFixed(0)} MiB`);
  line('streamed during the RSS run', `${(streamed / 1e6).toFixed(0)} MB, ${active} sessions streaming 64 KiB/s of text each`);
  line(`proxy RSS, ${active} streaming sessions (peak)`, `${peak.toFixed(0)} MiB  ${((peak - idle) / Math.max(1, active)).toFixed(2)} MiB per session`);
  results.rss_mib = { idle, peak, sessions: active, per_session: (peak - idle) / Math.max(1, active), streamed_bytes: streamed };
});
