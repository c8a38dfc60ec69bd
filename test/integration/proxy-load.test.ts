import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type * as Ssh2 from 'ssh2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AdminClient } from '../../src/lib/client/admin-client.js';
import { adminRoutes } from '../../src/lib/api/admin-routes.js';
import { ADMIN_SOCKET } from '../../src/lib/api/admin-protocol.js';
import { TARGET_ENV } from '../../src/lib/proxy-protocol.js';
import { castEvents, sessions, startCluster, type Cluster } from '../helpers/cluster.js';
import { run, tmpDir, waitFor } from '../helpers/proc.js';
import { fdCount, fdTargets, rssKiB } from '../helpers/procfs.js';
import { connectProxy, profileCertFile, type ExecResult, type ProxyConnection } from '../helpers/proxy-client.js';

/** Connections × session channels on each: 100 recorded sessions through one proxy at once. */
const CONNECTIONS = 10;
const CHANNELS = 10;
const SESSIONS = CONNECTIONS * CHANNELS;
/** Lines each session streams (about 210 bytes each): ~210 KB a session, ~21 MB in all. */
const LINES = 1000;
/** Every 50 lines a session pauses this long, so all of them stream over the same ~2 s. */
const PAUSE_S = 0.1;
/** Generous: the daemon's RSS may not grow by more than this while it carries the load. */
const MAX_RSS_GROWTH_MIB = 400;

/**
 * The command session `n` runs: says it is ready, waits for the go file (so all sessions are open
 * at once before any streams), streams a marker stream only it prints, then exits with a status
 * of its own. No forks after bash starts (`read -t` on a FIFO held open read-write is the sleep):
 * a hundred sessions must measure the proxy, not this VM's fork().
 */
function commandFor(n: number, fifo: string, go: string): string {
  return [
    `exec 3<>${fifo}`,
    `printf -v pad '%0200d' 0; pad=\${pad//0/x}`,
    `echo s${n}-ready`,
    `while [ ! -e ${go} ]; do read -t 0.1 -u 3 _; done`,
    `for ((i = 1; i <= ${LINES}; i++)); do echo "s${n}-$i-$pad"; if ((i % 50 == 0)); then read -t ${PAUSE_S} -u 3 _; fi; done`,
    `exit ${n % 7}`,
  ].join('; ');
}

/** Exactly what session `n` prints. */
function outputFor(n: number): string {
  const pad = 'x'.repeat(200);
  let s = `s${n}-ready\n`;
  for (let i = 1; i <= LINES; i++) s += `s${n}-${i}-${pad}\n`;
  return s;
}

/** Runs `fn` over `items` with at most `limit` at once. */
async function pool<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) {
        const i = next++;
        out[i] = await fn(items[i]!);
      }
    }),
  );
  return out;
}

/** Issue: 100 concurrent recorded sessions through one proxy; no lost or mixed-up recordings, bounded memory. */
describe('proxy under load', () => {
  let c: Cluster;
  let work: string;
  const conns: ProxyConnection[] = [];

  beforeAll(async () => {
    c = await startCluster();
    work = tmpDir('tollgate-load-');
  });
  afterAll(async () => {
    await Promise.all(conns.map((x) => x.end()));
    await c?.stop();
    if (work) fs.rmSync(work, { recursive: true, force: true });
  });

  it(`${SESSIONS} concurrent streaming sessions on ${CONNECTIONS} connections are each recorded whole, in order and apart; memory stays bounded`, async () => {
    const t0 = Date.now();
    const pid = c.daemon.process.child.pid!;
    const target = `root@127.0.0.1:${c.sshd.port}`;
    const connect = () => connectProxy({ port: c.sshPort, user: 'joe', agentSocket: c.agent.socket, certFile: profileCertFile(c.home) });
    const fifo = path.join(work, 'idle.fifo');
    const go = path.join(work, 'go');
    expect((await run('mkfifo', [fifo])).code).toBe(0);
    const cmd = (n: number) => commandFor(n, fifo, go);

    // Warm up (the first session loads code and opens the store) so the baselines are steady.
    const warm = await connect();
    conns.push(warm);
    const w = await warm.exec(target, 'echo warm-up');
    expect(w.stdout.toString()).toBe('warm-up\n');
    await warm.end();
    await waitFor(async () => (await sessions(c.daemon)).some((s) => s.command === 'echo warm-up' && s.endedAt !== null), 'the warm-up session to end');
    const fdsBefore = fdCount(pid);
    const rssBefore = rssKiB(pid)!;
    let rssMax = rssBefore;
    const sampler = setInterval(() => {
      const r = rssKiB(pid);
      if (r !== undefined && r > rssMax) rssMax = r;
    }, 50);

    let results: ExecResult[];
    let openAtOnce = 0;
    let rssAllOpen = 0;
    const tLoad = Date.now();
    let startMs = 0;
    try {
      const opened = await Promise.all(Array.from({ length: CONNECTIONS }, connect));
      conns.push(...opened);
      const ready = new Set<number>();
      const running = Array.from({ length: SESSIONS }, (_, n) =>
        // A light stagger (2.5 s for all) spares sshd a hundred simultaneous forks; the go file
        // still makes every session stream at the same time.
        new Promise((r) => setTimeout(r, n * 25)).then(() =>
          opened[n % CONNECTIONS]!.exec(target, cmd(n), { timeoutMs: 90_000, onData: (d) => d.toString().startsWith(`s${n}-ready`) && ready.add(n) }),
        ),
      );
      // Surface a failed session at once instead of waiting for the rest.
      const all = Promise.all(running);
      await Promise.race([waitFor(() => ready.size === SESSIONS, 'every session to start', 60_000), all.then(() => undefined)]);
      startMs = Date.now() - tLoad;
      openAtOnce = (await sessions(c.daemon)).filter((s) => s.endedAt === null).length;
      rssAllOpen = rssKiB(pid)!;
      fs.writeFileSync(go, '');
      results = await all;
    } finally {
      clearInterval(sampler);
    }
    const loadMs = Date.now() - tLoad;
    await Promise.all(conns.map((x) => x.end()));
    expect(openAtOnce, 'sessions open in the index at the same moment').toBe(SESSIONS);

    // What each client received: its own stream, whole, and its own exit status.
    for (const [n, r] of results.entries()) {
      expect(r.stderr.toString(), `session ${n} stderr`).toBe('');
      expect(r.code, `session ${n} exit status`).toBe(n % 7);
      expect(r.stdout.toString() === outputFor(n), `session ${n}: the client got exactly its own ${LINES} lines`).toBe(true);
    }

    // The index: one ended row per session, exact byte counts and hashes.
    const rows = await sessions(c.daemon);
    const byCommand = new Map(rows.map((s) => [s.command, s]));
    expect(rows.length).toBe(SESSIONS + 1);
    for (let n = 0; n < SESSIONS; n++) {
      const s = byCommand.get(cmd(n));
      expect(s, `session ${n} is in the index`).toBeDefined();
      const expected = outputFor(n);
      expect(s).toMatchObject({ user: 'joe', login: 'root', kind: 'exec', exitStatus: n % 7, endReason: 'exit', bytesIn: 0, bytesOut: Buffer.byteLength(expected) });
      expect(s!.endedAt).not.toBeNull();
      expect(s!.sha256Out).toBe(crypto.createHash('sha256').update(expected).digest('hex'));
    }

    // The recordings: exactly its own lines, in order, nothing from any other session.
    const dir = path.join(c.daemon.dataDir, 'recordings');
    expect(fs.readdirSync(dir).filter((f) => f.endsWith('.cast')).length).toBe(rows.length);
    for (let n = 0; n < SESSIONS; n++) {
      const s = byCommand.get(cmd(n))!;
      const cast = castEvents(c.daemon, s.id);
      expect(cast.header).toMatchObject({ version: 2, command: cmd(n) });
      expect(cast.events.every((e) => e[1] === 'o'), `session ${n}: only output events`).toBe(true);
      const text = cast.events.map((e) => e[2]).join('');
      if (text !== outputFor(n)) {
        const lines = text.split('\n');
        const foreign = lines.find((l) => l && !l.startsWith(`s${n}-`));
        throw new Error(`recording of session ${n} (${s.id}) is not exactly its output: ${lines.length - 1} lines${foreign ? `, a foreign line ${foreign.slice(0, 20)}` : ''}`);
      }
      const times = cast.events.map((e) => e[0]);
      expect(times.every((t, i) => i === 0 || t >= times[i - 1]!), `session ${n}: event times never go back`).toBe(true);
    }

    // Every recording verifies against its signed end (through the auth service, as tctl does);
    // a sample through tctl itself.
    const tVerify = Date.now();
    const admin = new AdminClient(path.join(c.daemon.dataDir, ADMIN_SOCKET));
    const verdicts = await pool(rows, 8, (s) => admin.call(adminRoutes.verifyRecording, { params: { id: s.id } }));
    for (const [i, v] of verdicts.entries()) expect(v.verdict, `${rows[i]!.id}: ${v.summary}`).toBe('verified');
    for (const n of [0, 57, SESSIONS - 1]) {
      const r = await c.daemon.tctl(['recordings', 'verify', byCommand.get(cmd(n))!.id]);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toMatch(/^verified: /);
    }
    const verifyMs = Date.now() - tVerify;

    // Memory stayed bounded, the daemon is up, still serves, and gave back what the load took.
    const growthMiB = (rssMax - rssBefore) / 1024;
    expect(growthMiB, `RSS ${rssBefore} KiB before, ${rssMax} KiB at most`).toBeLessThan(MAX_RSS_GROWTH_MIB);
    expect(c.daemon.process.running).toBe(true);
    const after = await connect();
    conns.push(after);
    expect((await after.exec(target, 'echo after-load')).stdout.toString()).toBe('after-load\n');
    await after.end();
    // Each session's sockets, agent channels and recording files are closed again.
    let fdsAfter = 0;
    await waitFor(() => (fdsAfter = fdCount(pid)) <= fdsBefore + 3, `the daemon's descriptors to return to ${fdsBefore} (+3)`, 15_000).catch((err: Error) => {
      throw new Error(`${err.message}: ${fdsAfter} open: ${fdTargets(pid).join(' ')}`);
    });
    expect(c.daemon.process.output).not.toMatch(/session failed|could not finish the recording|uncaught/i);
    const mib = (k: number) => Math.round(k / 1024);
    console.info(
      `proxy load: ${SESSIONS} sessions all open after ${startMs} ms, done in ${loadMs} ms; RSS ${mib(rssBefore)} MiB before, ${mib(rssAllOpen)} MiB all open, ${mib(rssMax)} MiB peak, ${mib(rssKiB(pid)!)} MiB after; fds ${fdsBefore} → ${fdsAfter}; verify ${verifyMs} ms; total ${Date.now() - t0} ms`,
    );
  }, 120_000);

  it('a client that stops reading makes the proxy hold the node back, not buffer its output', async () => {
    const pid = c.daemon.process.child.pid!;
    const conn = await connectProxy({ port: c.sshPort, user: 'joe', agentSocket: c.agent.socket, certFile: profileCertFile(c.home) });
    conns.push(conn);
    const size = 48 << 20;
    const command = `yes 0123456789abcdefghijklmnopqrstuvwxyz | head -c ${size}; echo slow-reader-done`;
    const stream = await new Promise<Ssh2.ClientChannel>((resolve, reject) =>
      conn.client.exec(command, { env: { [TARGET_ENV]: `root@127.0.0.1:${c.sshd.port}` }, agentForward: true } as Ssh2.ExecOptions, (err, s) => (err ? reject(err) : resolve(s))),
    );
    // Not reading: the client's SSH window (a few MB) fills, then the proxy must stop the node.
    stream.pause();
    await waitFor(() => stream.readableLength > 0, 'the first output', 20_000);
    const rssStalled = rssKiB(pid)!;
    let rssMax = rssStalled;
    const deadline = Date.now() + 3000;
    while (Date.now() < deadline) {
      rssMax = Math.max(rssMax, rssKiB(pid) ?? 0);
      await new Promise((r) => setTimeout(r, 50));
    }
    // At full speed the node would have sent all 48 MiB by now; held back, the client holds one window.
    expect(stream.readableLength).toBeLessThan(8 << 20);
    expect((rssMax - rssStalled) / 1024, 'daemon RSS growth (MiB) while the client does not read').toBeLessThan(24);

    const hash = crypto.createHash('sha256');
    let bytes = 0;
    let exit: number | null = null;
    stream.on('data', (d: Buffer) => {
      hash.update(d);
      bytes += d.length;
    });
    stream.on('exit', (code: number | null) => (exit = code));
    const closed = new Promise((r) => stream.once('close', r));
    stream.resume();
    await Promise.race([closed, new Promise((_, reject) => setTimeout(() => reject(new Error('the session did not finish after the client read again')), 60_000))]);
    expect(exit).toBe(0);
    expect(bytes).toBe(size + 'slow-reader-done\n'.length);
    const s = (await sessions(c.daemon)).find((x) => x.command === command)!;
    expect(s).toMatchObject({ endReason: 'exit', exitStatus: 0, bytesOut: bytes, sha256Out: hash.digest('hex') });
    const v = await new AdminClient(path.join(c.daemon.dataDir, ADMIN_SOCKET)).call(adminRoutes.verifyRecording, { params: { id: s.id } });
    expect(v.verdict, v.summary).toBe('verified');
    await conn.end();
  }, 90_000);
});
