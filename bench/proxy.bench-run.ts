import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, it } from 'vitest';
import { startCluster, type Cluster } from '../test/helpers/cluster.js';
import { startDaemon } from '../test/helpers/daemon.js';
import { ROOT, run, tmpDir, type Background } from '../test/helpers/proc.js';
import { LOAD_COMMANDS, SessionLoad } from './session-load.js';

/*
 * Proxy figures measured side by side in one run against the same real sshd on loopback:
 * direct OpenSSH, a stock OpenSSH bastion (`ssh -J` through sshd itself, no recording),
 * tollgate's `tsh ssh` (one SSH layer to the proxy) and plain `ssh -J` through tollgate; then
 * the daemon's RSS per concurrent recorded session (session-load.ts opens them from this process).
 * Prints one line per figure and writes bench/results/proxy-<date>.json.
 */
const STREAM_BYTES = 256 * 1024 * 1024;
const REPEAT = 3;
const results: Record<string, unknown> = { machine: `${process.platform} ${process.arch} node ${process.version}`, date: new Date().toISOString() };
let c: Cluster;
let cfg: string;
let work: string | undefined;

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((xs.length * p) / 100))]!;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
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
  work = tmpDir('tollgate-bench-');
  const kh = path.join(work, 'known_hosts');
  fs.writeFileSync(kh, (await c.daemon.tctl(['auth', 'export', '--type=host', '--host-pattern=*'])).stdout);
  cfg = path.join(work, 'ssh_config');
  fs.writeFileSync(cfg, ['Host *', '  StrictHostKeyChecking yes', `  UserKnownHostsFile ${kh}`, '  GlobalKnownHostsFile /dev/null', '  BatchMode yes', `  IdentityAgent ${c.agent.socket}`, '  LogLevel ERROR', ''].join('\n'));
});
afterAll(async () => {
  for (const p of restarted) await p.stop();
  fs.mkdirSync(path.join(ROOT, 'bench/results'), { recursive: true });
  const file = path.join(ROOT, 'bench/results', `proxy-${new Date().toISOString().slice(0, 10)}.json`);
  fs.writeFileSync(file, `${JSON.stringify(results, null, 2)}\n`);
  console.log(`results written to ${path.relative(ROOT, file)}`);
  await c?.stop();
  if (work) fs.rmSync(work, { recursive: true, force: true });
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

/** The daemon's resident set (VmRSS) in MiB. */
const rssOf = (pid: number) => Number(/VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) / 1024;

/** Samples the daemon's RSS every 200 ms for `ms`: the median (the figure) and the peak. */
async function sampleRss(pid: number, ms: number): Promise<{ median: number; peak: number }> {
  const xs: number[] = [];
  for (const end = Date.now() + ms; Date.now() < end; await sleep(200)) xs.push(rssOf(pid));
  return { median: median(xs), peak: Math.max(...xs) };
}

/**
 * A fresh daemon process on the same data dir, config and ports (CAs, users and the tsh profile
 * stay valid), so each RSS series starts from a clean heap instead of what the earlier figures left.
 */
async function restartDaemon(): Promise<void> {
  await c.daemon.stop();
  let spawned: Background | undefined;
  try {
    const d = await startDaemon({ proxy: true, dataDir: c.daemon.dataDir, yaml: fs.readFileSync(c.daemon.configFile, 'utf8'), onSpawn: (p) => (spawned = p) });
    await d.process.waitForOutput('ssh proxy listening');
    c.daemon = d;
  } catch (err) {
    await spawned?.stop();
    throw err;
  }
}
const restarted: Background[] = [];

const RSS_STEPS = [10, 50, 100];

it('proxy RSS per concurrent session, idle and streaming', async () => {
  const target = `root@127.0.0.1:${c.sshd.port}`;
  const load = (command: string) => new SessionLoad({ home: c.home, agentSocket: c.agent.socket, target, command });
  const out: Record<string, unknown> = {};
  for (const mode of ['idle', 'streaming'] as const) {
    await restartDaemon();
    restarted.push(c.daemon.process);
    const pid = c.daemon.process.child.pid!;
    // One session first, so code loaded on first use is in the baseline, not in the per-session cost.
    const warm = load(LOAD_COMMANDS.idle);
    await warm.open(1, Date.now() + 30_000);
    await warm.close();
    await sleep(2_000);
    const baseline = (await sampleRss(pid, 2_000)).median;
    line(`proxy RSS, no sessions (fresh daemon)`, `${baseline.toFixed(0)} MiB`);
    const sessions = load(LOAD_COMMANDS[mode]);
    const steps: Record<string, unknown>[] = [];
    try {
      for (const n of RSS_STEPS) {
        const t0 = performance.now();
        await sessions.open(n, Date.now() + 120_000);
        const rampSeconds = (performance.now() - t0) / 1000;
        const count = sessions.count;
        // Let buffers and the recorders reach their steady state before sampling.
        await sleep(3_000);
        const bytes0 = sessions.bytes;
        const s = await sampleRss(pid, mode === 'idle' ? 3_000 : 6_000);
        const rate = (sessions.bytes - bytes0) / (mode === 'idle' ? 3 : 6) / Math.max(1, sessions.count);
        const per = (s.median - baseline) / Math.max(1, count);
        const short = [
          ...(count < n ? [`ONLY ${count} of ${n} up (${sessions.failures.length} failures, last: ${sessions.failures.at(-1) ?? ''})`] : []),
          ...(sessions.lost ? [`${sessions.lost} sessions ended early`] : []),
        ].map((x) => `  ${x}`).join('');
        const streamed = mode === 'streaming' ? `, ${(rate / 1024).toFixed(0)} KiB/s each` : '';
        line(`proxy RSS, ${count} ${mode} sessions`, `${s.median.toFixed(0)} MiB (peak ${s.peak.toFixed(0)})  ${per.toFixed(2)} MiB per session  (up in ${rampSeconds.toFixed(1)} s${streamed})${short}`);
        steps.push({ sessions: count, requested: n, rss_median: s.median, rss_peak: s.peak, per_session: per, per_session_peak: (s.peak - baseline) / Math.max(1, count), ramp_seconds: rampSeconds, ...(mode === 'streaming' ? { bytes_per_second_per_session: rate } : {}), lost: sessions.lost, failures: sessions.failures.length });
      }
    } finally {
      await sessions.close();
    }
    out[mode] = { baseline, steps };
  }
  results.rss_mib = out;
});
