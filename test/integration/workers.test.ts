import fs from 'node:fs';
import https from 'node:https';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { auditEvents } from '../helpers/audit.js';
import { sessions, startCluster, type Cluster } from '../helpers/cluster.js';
import { SSH_LISTENING, startDaemon } from '../helpers/daemon.js';
import { cli, freePort, ROOT, spawnBackground, tmpDir, waitFor, type Background } from '../helpers/proc.js';
import { shq, TmuxSession } from '../helpers/tmux.js';

/**
 * Issue 19, "every core": teleport.workers: 2 — SSH sessions spread over two worker processes that
 * share the listen_addr, and every feature that spans sessions works whichever worker relays them:
 * tctl and the web list them, the web and tsh join follow them, tctl sessions end and locks end
 * them, SIGHUP and SIGTERM reach every worker, /metrics sums them, a dead worker is restarted and
 * its sessions closed as interrupted.
 */
describe('teleport.workers: 2', () => {
  let c: Cluster;
  let diagPort: number;
  const started: Background[] = [];
  const panes: TmuxSession[] = [];

  beforeAll(async () => {
    diagPort = await freePort();
    c = await startCluster({ teleportYaml: `  workers: 2\n  diag_addr: 127.0.0.1:${diagPort}`, workers: 'config' });
  });
  afterEach(async () => {
    for (const p of panes.splice(0)) await p.kill();
  });
  afterAll(async () => {
    for (const b of started.splice(0)) await b.stop('SIGKILL');
    await c?.stop();
  });

  const output = () => c.daemon.process.output;
  const primaryServerId = () => fs.readFileSync(path.join(c.daemon.dataDir, 'server_id'), 'utf8').trim();
  const workerServerId = (slot: number) => fs.readFileSync(path.join(c.daemon.dataDir, `server_id.worker-${slot}`), 'utf8').trim();

  /** `tsh ssh` printing counter-MARKER-N lines every 0.2 s, in the background. */
  function counter(marker: string): { proc: Background; out: () => string } {
    const proc = spawnBackground(process.execPath, [path.join(ROOT, 'bin/tsh'), 'ssh', `--port=${c.sshd.port}`, 'root@127.0.0.1', `i=0; while :; do i=$((i+1)); echo counter-${marker}-$i; sleep 0.2; done`], { cwd: ROOT, env: c.env });
    started.push(proc);
    let out = '';
    proc.child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    return { proc, out: () => out };
  }
  async function openSessions(marker: string, n: number) {
    let open: Awaited<ReturnType<typeof sessions>> = [];
    await waitFor(
      async () => {
        open = (await sessions(c.daemon)).filter((s) => s.endedAt === null && s.command?.includes(`counter-${marker}-`));
        return open.length === n;
      },
      `${n} sessions ${marker} to run`,
      20_000,
    );
    return open;
  }
  const tokenOf = () => (JSON.parse(fs.readFileSync(path.join(c.home, '127.0.0.1.json'), 'utf8')) as { token: string }).token;

  /** The web live view's event stream for `id`, kept open until closed. */
  function openWatch(id: string): Promise<{ status: number; text: () => string; close(): void }> {
    return new Promise((resolve, reject) => {
      let text = '';
      const req = https.get({ host: '127.0.0.1', port: c.daemon.webPort, path: `/webapi/sessions/${id}/live`, rejectUnauthorized: false, headers: { authorization: `Bearer ${tokenOf()}` } }, (res) => {
        res.on('data', (d: Buffer) => (text += d.toString()));
        res.on('error', () => undefined);
        resolve({ status: res.statusCode ?? 0, text: () => text, close: () => req.destroy() });
      });
      req.on('error', reject);
    });
  }

  it('starts two workers, each with its own server id, and is ready', async () => {
    expect(output()).toMatch(/ssh worker listening worker=1 /);
    expect(output()).toMatch(/ssh worker listening worker=2 /);
    expect(output()).toMatch(/ssh proxy listening .*workers="2 \(teleport\.workers\)"/);
    const ids = new Set([primaryServerId(), workerServerId(1), workerServerId(2)]);
    expect(ids.size).toBe(3);
    const r = await fetch(`http://127.0.0.1:${diagPort}/readyz`);
    const body = (await r.json()) as { checks: Record<string, string> };
    expect(body.checks['ssh listener']).toBe('ok');
    // tctl status says how many workers accept connections (an operator's first look).
    const status = await c.daemon.tctl(['status']);
    expect(status.stdout).toMatch(/SSH workers:\s+2 of 2 accepting connections/);
  });

  it('sessions land on both workers; tctl sessions ls and the web list every one; the web and tsh join follow each', async () => {
    const runs = ['a', 'b', 'c', 'd'].map((m) => ({ m, ...counter(`list${m}`) }));
    const open = (await Promise.all(runs.map((r) => openSessions(`list${r.m}`, 1)))).flat();
    // Round-robin: four connections, two workers.
    const servers = new Set(open.map((s) => s.serverId));
    expect(servers).toEqual(new Set([workerServerId(1), workerServerId(2)]));

    const tctl = await c.daemon.tctl(['sessions', 'ls', '--active', '--format=json']);
    expect(tctl.code, tctl.stderr).toBe(0);
    const listed = (JSON.parse(tctl.stdout) as Array<{ id: string }>).map((s) => s.id);
    for (const s of open) expect(listed).toContain(s.id);
    const web = await c.tsh(['sessions', 'ls', '--format=json']);
    expect(web.code, web.stderr).toBe(0);
    const webIds = (JSON.parse(web.stdout) as Array<{ id: string }>).map((s) => s.id);
    for (const s of open) expect(webIds).toContain(s.id);
    // The table names each session's activity, whichever worker relays it: they are this daemon's.
    const table = await c.daemon.tctl(['sessions', 'ls', '--active']);
    expect(table.stdout).not.toContain('(another proxy)');
    expect((JSON.parse(tctl.stdout) as Array<{ id: string; local: boolean }>).filter((r) => open.some((o) => o.id === r.id)).every((r) => r.local)).toBe(true);

    // The web live view (served by the primary) of a session on each worker: attached in that
    // worker, so the session's participants list the web viewer while it watches.
    for (const slot of [1, 2]) {
      const s = open.find((x) => x.serverId === workerServerId(slot))!;
      const marker = /counter-(list\w)-/.exec(s.command!)![1]!;
      const w = await openWatch(s.id);
      try {
        expect(w.status).toBe(200);
        await waitFor(() => new RegExp(`counter-${marker}-\\d+`).test(w.text()), 'the live view to show the session', 15_000);
        // Live: a counter newer than any in the first paint arrives.
        const seen = () => Math.max(0, ...[...w.text().matchAll(new RegExp(`counter-${marker}-(\\d+)`, 'g'))].map((m) => Number(m[1])));
        const first = seen();
        await waitFor(() => seen() >= first + 3, 'the live view to follow the session', 15_000);
        const rows = JSON.parse((await c.daemon.tctl(['sessions', 'ls', '--active', '--format=json'])).stdout) as Array<{ id: string; participants: Array<{ user: string; mode: string }> }>;
        expect(rows.find((r) => r.id === s.id)?.participants).toEqual([{ user: 'joe', mode: 'observer' }]);
      } finally {
        w.close();
      }
      // Closing the page's stream detaches the viewer in the worker.
      await waitFor(
        async () => {
          const rows = JSON.parse((await c.daemon.tctl(['sessions', 'ls', '--active', '--format=json'])).stdout) as Array<{ id: string; participants: unknown[] }>;
          return rows.find((r) => r.id === s.id)?.participants.length === 0;
        },
        'the web viewer to leave',
        15_000,
      );
    }
    const webJoins = (await auditEvents(c.daemon, ['session.join'])).filter((e) => e.fields.via === 'web' && open.some((o) => o.id === e.fields.sid));
    expect(webJoins).toHaveLength(2);

    // tsh join twice in a row: round-robin puts the two connections on different workers, so one
    // of them joins a session its own worker relays and the other a sibling's.
    const s = open[0]!;
    const marker = /counter-(list\w)-/.exec(s.command!)![1]!;
    for (let i = 0; i < 2; i++) {
      const t = await TmuxSession.start(`cd ${shq(ROOT)} && env TELEPORT_HOME=${shq(c.home)} SSH_AUTH_SOCK=${shq(c.agent.socket)} ${shq(process.execPath)} bin/tsh join ${s.id}`, { width: 100, height: 30 });
      panes.push(t);
      await t.waitFor(new RegExp(`counter-${marker}-\\d+`), 15_000);
      const first = Math.max(...[...(await t.screen()).matchAll(new RegExp(`counter-${marker}-(\\d+)`, 'g'))].map((m) => Number(m[1])));
      await waitFor(async () => (await t.screen()).includes(`counter-${marker}-${first + 3}`), 'the join to follow the session', 10_000);
    }
    const joins = (await auditEvents(c.daemon, ['session.join'])).filter((e) => e.fields.sid === s.id && e.fields.via !== 'web');
    expect(joins.length).toBe(2);
    // Both observers are in the session's participants, as its own worker knows them.
    const rows = JSON.parse((await c.daemon.tctl(['sessions', 'ls', '--active', '--format=json'])).stdout) as Array<{ id: string; participants: Array<{ user: string; mode: string }> }>;
    expect(rows.find((r) => r.id === s.id)!.participants).toEqual([
      { user: 'joe', mode: 'observer' },
      { user: 'joe', mode: 'observer' },
    ]);
    for (const p of panes.splice(0)) await p.kill();

    // tctl sessions end, and a lock, end sessions on either worker.
    const onOne = open.find((x) => x.serverId === workerServerId(1))!;
    const onTwo = open.find((x) => x.serverId === workerServerId(2))!;
    const end = await c.daemon.tctl(['sessions', 'end', onOne.id, '-m', 'maintenance']);
    expect(end.code, end.stderr).toBe(0);
    const lock = await c.daemon.tctl(['lock', `--session=${onTwo.id}`, '-m', 'locked for the test']);
    expect(lock.code, lock.stderr).toBe(0);
    await waitFor(async () => (await sessions(c.daemon)).filter((x) => [onOne.id, onTwo.id].includes(x.id) && x.endedAt !== null).length === 2, 'both sessions to end', 10_000);
    const rest = open.filter((x) => x.id !== onOne.id && x.id !== onTwo.id);
    for (const r of rest) expect(await c.daemon.tctl(['sessions', 'end', r.id])).toMatchObject({ code: 0 });
    for (const r of runs) await r.proc.waitForExit(10_000);
    const all = await sessions(c.daemon);
    expect(all.filter((x) => open.some((o) => o.id === x.id) && x.endedAt === null)).toEqual([]);
  });

  it('tsh join --mode=peer types into the session whichever worker the join lands on', async () => {
    // A session that echoes what its peers type: `cat` with a PTY.
    const owner = await TmuxSession.start(`cd ${shq(ROOT)} && env TELEPORT_HOME=${shq(c.home)} SSH_AUTH_SOCK=${shq(c.agent.socket)} ${shq(process.execPath)} bin/tsh ssh -t --port=${c.sshd.port} root@127.0.0.1 'echo peer-target-ready; cat'`, { width: 100, height: 30 });
    panes.push(owner);
    await owner.waitFor('peer-target-ready', 15_000);
    let id = '';
    await waitFor(async () => (id = (await sessions(c.daemon)).find((x) => x.endedAt === null && x.command?.includes('peer-target-ready'))?.id ?? '') !== '', 'the session to be indexed');
    for (let i = 1; i <= 2; i++) {
      const peer = await TmuxSession.start(`cd ${shq(ROOT)} && env TELEPORT_HOME=${shq(c.home)} SSH_AUTH_SOCK=${shq(c.agent.socket)} ${shq(process.execPath)} bin/tsh join --mode=peer ${id}`, { width: 100, height: 30 });
      panes.push(peer);
      await peer.waitFor('peer-target-ready', 15_000);
      await peer.type(`typed-by-peer-${i}`);
      await owner.waitFor(`typed-by-peer-${i}`, 10_000);
      await peer.kill();
    }
    expect(await c.daemon.tctl(['sessions', 'end', id])).toMatchObject({ code: 0 });
  });

  it('/metrics is the sum over the workers', async () => {
    const text = await (await fetch(`http://127.0.0.1:${diagPort}/metrics`)).text();
    const value = (name: string) => Number(new RegExp(`^${name.replace(/[{}"]/g, (ch) => `\\${ch}`)} (\\S+)$`, 'm').exec(text)?.[1]);
    const execs = (await sessions(c.daemon)).filter((s) => s.kind === 'exec').length;
    expect(value('tollgate_sessions_started_total{kind="exec"}')).toBe(execs);
    expect(value('tollgate_sessions_active{kind="exec"}')).toBe(0);
    expect(value('tollgate_build_info{version="0.1.0"}') || Number(/^tollgate_build_info\{[^}]*\} (\S+)$/m.exec(text)?.[1])).toBe(1);
    expect(value('tollgate_session_bytes_total{direction="out"}')).toBeGreaterThan(0);
  });

  it('SIGHUP reaches every worker', async () => {
    const count = (re: RegExp) => (output().match(re) ?? []).length;
    const before = [count(/reloaded configuration/g), count(/reload applied worker=1\b/g), count(/reload applied worker=2\b/g)];
    c.daemon.process.child.kill('SIGHUP');
    await waitFor(() => count(/reload applied worker=1\b/g) > before[1]! && count(/reload applied worker=2\b/g) > before[2]!, 'both workers to apply the reload');
    // One "reloaded configuration" line per SIGHUP (the primary's), as with one process.
    expect(count(/reloaded configuration/g)).toBe(before[0]! + 1);
  });

  it('a worker that dies is restarted; its running session is closed as interrupted', async () => {
    const run = counter('crash');
    const [s] = await openSessions('crash', 1);
    const slot = s!.serverId === workerServerId(1) ? 1 : 2;
    const pid = Number([...output().matchAll(new RegExp(`ssh worker listening worker=${slot} .*pid=(\\d+)`, 'g'))].at(-1)![1]);
    process.kill(pid, 'SIGKILL');
    await c.daemon.process.waitForOutput(new RegExp(`worker restarted worker=${slot}`), 20_000);
    expect(output()).toMatch(new RegExp(`worker exited; .*worker=${slot} pid=${pid} signal=SIGKILL`));
    await waitFor(async () => (await sessions(c.daemon)).find((x) => x.id === s!.id)?.endReason === 'interrupted', 'the session to be closed as interrupted', 10_000);
    await run.proc.waitForExit(10_000);
    // Both workers serve again.
    const after = ['x', 'y'].map((m) => counter(`again${m}`));
    const open = (await Promise.all(['x', 'y'].map((m) => openSessions(`again${m}`, 1)))).flat();
    expect(new Set(open.map((o) => o.serverId)).size).toBe(2);
    for (const o of open) expect(await c.daemon.tctl(['sessions', 'end', o.id])).toMatchObject({ code: 0 });
    for (const a of after) await a.proc.waitForExit(10_000);
  });

  it('a worker restarted after the config file changed runs with the primary\'s config (a broken file does not leave it hanging), and the slot is not doubled', async () => {
    const count = (re: RegExp) => (output().match(re) ?? []).length;
    const original = fs.readFileSync(c.daemon.configFile, 'utf8');
    try {
      // What an operator's half-finished edit looks like when a worker happens to die.
      fs.writeFileSync(c.daemon.configFile, `${original}\nproxy_service:\n  listen_addr: [unclosed\n`);
      const restarts = () => count(/worker restarted worker=1\b/g);
      const before = restarts();
      const pid = Number([...output().matchAll(/ssh worker listening worker=1 .*pid=(\d+)/g)].at(-1)![1]);
      process.kill(pid, 'SIGKILL');
      await waitFor(() => restarts() > before, 'worker 1 to start again', 20_000);
      expect(output()).not.toMatch(/malformed YAML|did not start again/);
      // The restarted worker took sessions as before: both workers serve, on the same listener.
      const runs = ['p', 'q', 'r', 's'].map((m) => counter(`cfg${m}`));
      const open = (await Promise.all(['p', 'q', 'r', 's'].map((m) => openSessions(`cfg${m}`, 1)))).flat();
      expect(new Set(open.map((o) => o.serverId)).size).toBe(2);
      for (const o of open) expect(await c.daemon.tctl(['sessions', 'end', o.id])).toMatchObject({ code: 0 });
      for (const r of runs) await r.proc.waitForExit(10_000);
      expect(restarts()).toBe(before + 1);
    } finally {
      fs.writeFileSync(c.daemon.configFile, original);
    }
  });

  it('SIGTERM drains every worker: running sessions finish, then everything exits 0', async () => {
    const proc = spawnBackground(process.execPath, [path.join(ROOT, 'bin/tsh'), 'ssh', `--port=${c.sshd.port}`, 'root@127.0.0.1', 'echo begun; sleep 3; echo finished-after-drain'], { cwd: ROOT, env: c.env });
    started.push(proc);
    let out = '';
    proc.child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    await waitFor(() => out.includes('begun'), 'the session to start', 15_000);
    c.daemon.process.child.kill('SIGTERM');
    expect(await c.daemon.process.waitForExit(30_000)).toBe(0);
    expect(out).toContain('finished-after-drain');
    expect(await proc.waitForExit(5_000)).toBe(0);
    expect(output()).toMatch(/stopped worker=1/);
    expect(output()).toMatch(/stopped worker=2/);
    expect(output()).toMatch(/drained worker=\d sessions=1 ended_by_shutdown=0/);
  });
});

describe('teleport.workers: the primary killed', () => {
  let c: Cluster | undefined;
  /** The daemon started again on the same data dir: the cluster's stop() knows only the first. */
  let restarted: Awaited<ReturnType<typeof startDaemon>> | undefined;
  afterAll(async () => {
    await restarted?.stop();
    await c?.stop();
  });

  it('kill -9 of the primary takes its workers with it; a restart with one process closes their sessions as interrupted', async () => {
    c = await startCluster({ teleportYaml: '  workers: 2', workers: 'config' });
    const procs = ['k1', 'k2'].map((m) =>
      spawnBackground(process.execPath, [path.join(ROOT, 'bin/tsh'), 'ssh', `--port=${c!.sshd.port}`, 'root@127.0.0.1', `while :; do echo ${m}; sleep 0.2; done`], { cwd: ROOT, env: c!.env }),
    );
    let open: Awaited<ReturnType<typeof sessions>> = [];
    await waitFor(async () => (open = (await sessions(c!.daemon)).filter((s) => s.endedAt === null)).length === 2, 'two sessions', 20_000);
    expect(new Set(open.map((s) => s.serverId)).size).toBe(2);
    const workerPids = [...c.daemon.process.output.matchAll(/ssh worker listening worker=\d .*pid=(\d+)/g)].map((m) => Number(m[1]));
    expect(workerPids).toHaveLength(2);
    await c.daemon.process.stop('SIGKILL');
    await waitFor(() => workerPids.every((pid) => !isAlive(pid)), 'the workers to exit with their primary', 10_000);
    for (const p of procs) await p.stop('SIGKILL');
    const again = await startDaemon({ proxy: true, dataDir: c.daemon.dataDir, yaml: fs.readFileSync(c.daemon.configFile, 'utf8'), workers: 1 });
    restarted = again;
    await again.process.waitForOutput(SSH_LISTENING);
    const after = await sessions(again);
    for (const s of open) expect(after.find((x) => x.id === s.id)?.endReason).toBe('interrupted');
    expect(again.process.output).toMatch(/closed a former worker's interrupted sessions .*worker=1/);
    expect(again.process.output).toMatch(/closed a former worker's interrupted sessions .*worker=2/);
  });
});

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('teleport.workers: bad values', () => {
  it.each([
    [['--workers=0'], /--workers: must be auto or a whole number from 1 to 64, not "0"/],
    [['--workers=lots'], /--workers: must be auto or a whole number from 1 to 64/],
  ])('teleport start %s is refused with one line and a hint', async (args, re) => {
    const dir = tmpDir('tollgate-workers-');
    const r = await cli('teleport', ['start', '--data-dir', path.join(dir, 'data'), ...args]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(re);
    expect(r.stderr.trim().split('\n').filter((l) => l.startsWith('ERROR')).length).toBe(1);
    expect(r.stderr).toMatch(/--workers=1/);
  });

  it('workers: 100 in teleport.yaml is refused, naming the file, line and key', async () => {
    const dir = tmpDir('tollgate-workers-');
    const file = path.join(dir, 'teleport.yaml');
    fs.writeFileSync(file, 'teleport:\n  workers: 100\n');
    const r = await cli('teleport', ['start', '-c', file, '--data-dir', path.join(dir, 'data')]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain(`${file}:2: teleport.workers: must be auto or a whole number from 1 to 64, not 100`);
  });
});

