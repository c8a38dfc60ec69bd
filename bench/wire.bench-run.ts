import Database from 'better-sqlite3';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, it } from 'vitest';
import { startCluster, type Cluster } from '../test/helpers/cluster.js';
import { startDaemon } from '../test/helpers/daemon.js';
import { ROOT, run, tmpDir, type Background } from '../test/helpers/proc.js';
import { startSshd, type TestSshd } from '../test/helpers/sshd.js';
import { topSelfTime } from './cpu-profile.js';

/*
 * Recording at wire speed (issue 19), side by side in one run, all on 127.0.0.1 against one real
 * sshd node: direct OpenSSH; a stock OpenSSH bastion (a second sshd started here, `ssh -J`, records
 * nothing); tollgate's `tsh ssh` and plain `ssh -A -J` through tollgate (both recorded, every tap on).
 * - terminal text (`yes LINE | head -c`) and random bytes (`cat` of a random file), best of REPEAT;
 * - connect and run `true` (median of TRUE_RUNS);
 * - aggregate throughput of CONCURRENT text streams at once, through tollgate and the bastion;
 * - recording bytes stored per byte of output, and the daemon's CPU seconds per GiB relayed
 *   (utime + stime of /proc/PID/stat, every thread of the daemon, before and after each run).
 * Ratios are throughput ratios (higher is better) except for `true` (time, lower is better).
 *
 * BENCH_STREAM_MIB sets the stream size (default 128). BENCH_CPU_PROF=1 starts the daemon under
 * `node --cpu-prof`, runs only the text stream through tollgate and prints the daemon's top
 * self-time functions (the profile is kept under bench/results/).
 */
const MiB = 1024 * 1024;
const STREAM_BYTES = Number(process.env.BENCH_STREAM_MIB ?? 128) * MiB;
const REPEAT = 3;
const TRUE_RUNS = 5;
const CONCURRENT = 8;
const CONCURRENT_BYTES = 32 * MiB;
const PROFILE = process.env.BENCH_CPU_PROF === '1';
const TEXT_LINE = 'tollgate bench: the quick brown fox jumps over the lazy dog 0123456789 ~!@#$%^&*()';
const CLK_TCK = 100;

type Path = 'direct' | 'bastion' | 'tsh' | 'jump';
const PATHS: readonly Path[] = ['direct', 'bastion', 'tsh', 'jump'];
const LABEL: Record<Path, string> = { direct: 'direct OpenSSH', bastion: 'OpenSSH bastion (-J)', tsh: 'tollgate tsh ssh', jump: 'tollgate ssh -A -J' };

const results: Record<string, unknown> = { machine: `${process.platform} ${process.arch} node ${process.version}`, date: new Date().toISOString(), stream_bytes: STREAM_BYTES, repeat: REPEAT };
let c: Cluster;
let bastion: TestSshd;
let cfg: string;
let work: string;
let randomFile: string;
let profileDir: string | undefined;
const restarted: Background[] = [];

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const line = (label: string, text: string) => console.log(`${label.padEnd(34)} ${text}`);

/**
 * The daemon's CPU time so far (all threads: the relay, libuv's pool, the search worker), in
 * seconds, with its SSH workers' (teleport.workers: the primary's child processes).
 */
function cpuSeconds(pid: number): number {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command name (which may hold spaces): state is field 3, utime 14, stime 15.
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  let children: number[] = [];
  try {
    children = fs.readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    // no children file (old kernel): the primary alone
  }
  return (Number(f[11]) + Number(f[12])) / CLK_TCK + children.reduce((sum, child) => sum + cpuSeconds(child), 0);
}

/**
 * CPU seconds the whole machine spent so far (every process, user + system, from /proc/stat):
 * with both cores busy, a path's throughput is bounded by how much CPU its bytes cost everywhere
 * (node's sshd, the bastion or tollgate, the client), not by the daemon alone.
 */
function machineCpuSeconds(): number {
  const f = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal: busy = all but idle and iowait.
  const busy = f[0]! + f[1]! + f[2]! + f[5]! + f[6]! + (f[7] ?? 0);
  return busy / CLK_TCK;
}

/** Bytes under the daemon's recordings directory (every file of every recording). */
function recordingBytes(): number {
  const dir = path.join(c.daemon.dataDir, 'recordings');
  let total = 0;
  const walk = (d: string) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else total += fs.statSync(p).size;
    }
  };
  if (fs.existsSync(dir)) walk(dir);
  return total;
}

/**
 * Lines in the daemon's search index (SQLite), every session's, once the count has stopped moving:
 * a session's end does not wait for its index writes, so they may go on after the client returns.
 */
async function indexedLines(): Promise<number> {
  const count = () => {
    const db = new Database(path.join(c.daemon.dataDir, 'tollgate.db'), { readonly: true, fileMustExist: true });
    try {
      return (db.prepare('SELECT count(*) AS n FROM session_lines').get() as { n: number }).n;
    } finally {
      db.close();
    }
  };
  let n = count();
  for (let i = 0; i < 50; i++) {
    await new Promise((r) => setTimeout(r, 100));
    const m = count();
    if (m === n) break;
    n = m;
  }
  return n;
}

/** The shell command that runs `remote` on the node through `via`, output to /dev/null. */
function command(via: Path, remote: string): string {
  const p = c.sshd.port;
  switch (via) {
    case 'direct':
      return `ssh -F ${cfg} -p ${p} root@127.0.0.1 '${remote}' > /dev/null`;
    case 'bastion':
      // `localhost` as the node name: ssh refuses a jump to the very same host name ("jumphost loop").
      return `ssh -F ${cfg} -J root@127.0.0.1:${bastion.port} -p ${p} root@localhost '${remote}' > /dev/null`;
    case 'tsh':
      return `node bin/tsh ssh --port=${p} root@127.0.0.1 '${remote}' > /dev/null`;
    case 'jump':
      return `ssh -F ${cfg} -A -J joe@127.0.0.1:${c.sshPort} -p ${p} root@127.0.0.1 '${remote}' > /dev/null`;
  }
}
const envOf = (via: Path) => (via === 'tsh' ? c.env : process.env);

async function timed(cmd: string, env: NodeJS.ProcessEnv): Promise<number> {
  const t = performance.now();
  const r = await run('bash', ['-c', cmd], { env, cwd: ROOT, timeoutMs: 300_000 });
  if (r.code !== 0) throw new Error(`${cmd} failed (${r.code}): ${r.stderr}`);
  return (performance.now() - t) / 1000;
}

interface StreamFigure {
  seconds: number;
  /** CPU seconds of the whole machine per GiB streamed, over all runs, and the share of both cores busy. */
  machinePerGiB: number;
  busy: number;
  /** Through tollgate only: daemon CPU seconds per GiB and recording bytes per byte, over all runs; search index lines per session. */
  cpuPerGiB?: number;
  storedPerByte?: number;
  indexedLines?: number;
}

/** Best of REPEAT; through tollgate, the daemon's CPU and the recording's growth over all runs. */
async function stream(via: Path, remote: string, bytes: number): Promise<StreamFigure> {
  const recorded = via === 'tsh' || via === 'jump';
  const pid = c.daemon.process.child.pid!;
  // The index writes of the path before are done before this one's CPU is counted.
  const lines0 = recorded ? await indexedLines() : 0;
  const cpu0 = recorded ? cpuSeconds(pid) : 0;
  const disk0 = recorded ? recordingBytes() : 0;
  const machine0 = machineCpuSeconds();
  const times: number[] = [];
  for (let i = 0; i < REPEAT; i++) times.push(await timed(command(via, remote), envOf(via)));
  const seconds = Math.min(...times);
  const total = bytes * REPEAT;
  // ... and this path's own are counted with it.
  const lines1 = recorded ? await indexedLines() : 0;
  const machineCpu = machineCpuSeconds() - machine0;
  const machine = { machinePerGiB: machineCpu / (total / (1024 * MiB)), busy: machineCpu / (os.availableParallelism() * times.reduce((a, b) => a + b, 0)) };
  if (!recorded) return { seconds, ...machine };
  return { seconds, ...machine, cpuPerGiB: (cpuSeconds(pid) - cpu0) / (total / (1024 * MiB)), storedPerByte: (recordingBytes() - disk0) / total, indexedLines: (lines1 - lines0) / REPEAT };
}

/** A fresh daemon on the same data dir, config and ports, under `nodeArgs` (the CPU profile). */
async function restartDaemon(nodeArgs: string[]): Promise<void> {
  await c.daemon.stop();
  let spawned: Background | undefined;
  try {
    const d = await startDaemon({ proxy: true, nodeArgs, dataDir: c.daemon.dataDir, yaml: fs.readFileSync(c.daemon.configFile, 'utf8'), onSpawn: (p) => (spawned = p), workers: 'config' });
    await d.process.waitForOutput('ssh proxy listening');
    c.daemon = d;
    restarted.push(d.process);
  } catch (err) {
    await spawned?.stop();
    throw err;
  }
}

beforeAll(async () => {
  // The daemon as shipped: teleport.workers' default (auto, one SSH worker per core).
  c = await startCluster({ workers: 'config' });
  work = tmpDir('tollgate-wire-');
  // The bastion: a second stock sshd that trusts the same user CA and presents a host certificate.
  const hostKey = path.join(work, 'bastion_host');
  const signed = await c.daemon.tctl(['auth', 'sign', '--host=localhost,127.0.0.1', '-o', hostKey]);
  if (signed.code !== 0) throw new Error(signed.stderr);
  bastion = await startSshd({ trustedUserCaKeys: (await c.daemon.tctl(['auth', 'export', '--type=user'])).stdout, hostKey, hostCertificate: `${hostKey}-cert.pub` });
  const kh = path.join(work, 'known_hosts');
  fs.writeFileSync(kh, (await c.daemon.tctl(['auth', 'export', '--type=host', '--host-pattern=*'])).stdout);
  cfg = path.join(work, 'ssh_config');
  fs.writeFileSync(cfg, ['Host *', '  StrictHostKeyChecking yes', `  UserKnownHostsFile ${kh}`, '  GlobalKnownHostsFile /dev/null', '  BatchMode yes', `  IdentityAgent ${c.agent.socket}`, '  LogLevel ERROR', ''].join('\n'));
  randomFile = path.join(work, 'random.bin');
  const made = await run('bash', ['-c', `head -c ${STREAM_BYTES} /dev/urandom > ${randomFile}`]);
  if (made.code !== 0) throw new Error(made.stderr);
  if (PROFILE) {
    profileDir = path.join(ROOT, 'bench/results', `cpu-prof-${new Date().toISOString().replace(/[:.]/g, '-')}`);
    fs.mkdirSync(profileDir, { recursive: true });
    await restartDaemon(['--cpu-prof', `--cpu-prof-dir=${profileDir}`]);
  }
}, 180_000);

afterAll(async () => {
  const daemonPid = c?.daemon.process.child.pid;
  for (const p of restarted) await p.stop();
  await bastion?.stop();
  await c?.stop();
  if (work) fs.rmSync(work, { recursive: true, force: true });
  if (profileDir) {
    const file = fs.readdirSync(profileDir).find((f) => f.includes(`.${daemonPid}.`));
    if (!file) return console.log(`no CPU profile of the daemon (pid ${daemonPid}) in ${profileDir}`);
    console.log(`daemon CPU profile: ${path.relative(ROOT, path.join(profileDir, file))}; top self time:`);
    for (const f of topSelfTime(path.join(profileDir, file), 20)) line(`  ${f.share.toFixed(1).padStart(5)}%  ${f.ms.toFixed(0).padStart(6)} ms`, f.name);
    return;
  }
  fs.mkdirSync(path.join(ROOT, 'bench/results'), { recursive: true });
  const file = path.join(ROOT, 'bench/results', `wire-${new Date().toISOString().slice(0, 10)}.json`);
  fs.writeFileSync(file, `${JSON.stringify(results, null, 2)}\n`);
  console.log(`results written to ${path.relative(ROOT, file)}`);
});

const STREAMS = {
  text: () => `yes "${TEXT_LINE}" | head -c ${STREAM_BYTES}`,
  random: () => `cat ${randomFile}`,
} as const;

it.skipIf(PROFILE)('text and random bytes, connect time: direct, bastion, tsh ssh, ssh -A -J', async () => {
  const mib = STREAM_BYTES / MiB;
  console.log(`\n${mib} MiB from the node, best of ${REPEAT}; ratios are of throughput (bastion = b, direct = d)`);
  const table: Record<string, Record<Path, StreamFigure>> = {};
  for (const [kind, remote] of Object.entries(STREAMS)) {
    const row = {} as Record<Path, StreamFigure>;
    for (const via of PATHS) row[via] = await stream(via, remote(), STREAM_BYTES);
    table[kind] = row;
    for (const via of PATHS) {
      const f = row[via];
      const mbs = `${(STREAM_BYTES / 1e6 / f.seconds).toFixed(0)} MB/s`.padStart(9);
      const ratios = `${(row.bastion.seconds / f.seconds).toFixed(2)} b  ${(row.direct.seconds / f.seconds).toFixed(2)} d`;
      const all = `  machine ${f.machinePerGiB.toFixed(1)} CPU s/GiB (${(100 * f.busy).toFixed(0)}% busy)`;
      const extra = f.cpuPerGiB === undefined ? all : `${all}  daemon ${f.cpuPerGiB.toFixed(2)} CPU s/GiB  stored ${f.storedPerByte!.toFixed(3)} B/B  indexed ${f.indexedLines!.toFixed(0)} lines`;
      line(`${kind.padEnd(6)} ${LABEL[via]}`, `${f.seconds.toFixed(2)} s ${mbs}  ${ratios}${extra}`);
    }
  }
  const connect = {} as Record<Path, number>;
  for (const via of PATHS) {
    const xs: number[] = [];
    for (let i = 0; i < TRUE_RUNS; i++) xs.push(await timed(command(via, 'true'), envOf(via)));
    connect[via] = median(xs);
  }
  for (const via of PATHS) line(`true   ${LABEL[via]}`, `${connect[via].toFixed(3)} s  ${(connect[via] / connect.bastion).toFixed(2)}x b  ${(connect[via] / connect.direct).toFixed(2)}x d  (median of ${TRUE_RUNS})`);
  results.streams = table;
  results.true_seconds = connect;
});

it.skipIf(PROFILE)(`${CONCURRENT} concurrent text streams: tollgate vs the bastion`, async () => {
  const remote = `yes "${TEXT_LINE}" | head -c ${CONCURRENT_BYTES}`;
  const total = CONCURRENT * CONCURRENT_BYTES;
  const lines = Math.floor(CONCURRENT_BYTES / (TEXT_LINE.length + 1));
  const indexed: Partial<Record<Path, number>> = {};
  const aggregate = async (via: Path) => {
    const lines0 = via === 'bastion' ? 0 : await indexedLines();
    const t = performance.now();
    await Promise.all(Array.from({ length: CONCURRENT }, () => timed(command(via, remote), envOf(via))));
    const mbs = total / 1e6 / ((performance.now() - t) / 1000);
    if (via !== 'bastion') indexed[via] = ((await indexedLines()) - lines0) / CONCURRENT;
    return mbs;
  };
  const out: Partial<Record<Path, number>> = {};
  for (const via of ['bastion', 'jump', 'tsh'] as const) out[via] = await aggregate(via);
  console.log(`\n${CONCURRENT} concurrent sessions, ${CONCURRENT_BYTES / MiB} MiB of text each (${lines} lines)`);
  for (const via of ['bastion', 'jump', 'tsh'] as const) {
    const idx = indexed[via] === undefined ? '' : `  indexed ${indexed[via]!.toFixed(0)} lines per session`;
    line(`x${CONCURRENT} ${LABEL[via]}`, `${out[via]!.toFixed(0)} MB/s aggregate  ${(out[via]! / out.bastion!).toFixed(2)} b${idx}`);
  }
  results.concurrent_mb_per_s = out;
  results.concurrent_indexed_lines_per_session = indexed;
});

it.runIf(PROFILE)('profile: text through tollgate', async () => {
  for (const via of ['tsh', 'jump'] as const) {
    const f = await stream(via, STREAMS.text(), STREAM_BYTES);
    line(`text ${LABEL[via]}`, `${f.seconds.toFixed(2)} s (under --cpu-prof)`);
  }
});
