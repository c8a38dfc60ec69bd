import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestAgent } from '../helpers/agent.js';
import { PASSWORD, tshLogin } from '../helpers/cluster.js';
import { proxyYaml, startDaemon, type TestDaemon } from '../helpers/daemon.js';
import { postJson } from '../helpers/https.js';
import { startPostgres, type TestPostgres } from '../helpers/postgres.js';
import { type Background, cli, ROOT, tmpDir, waitFor } from '../helpers/proc.js';
import { startSshd, type TestSshd } from '../helpers/sshd.js';
import { shq, TmuxSession } from '../helpers/tmux.js';

/** Daemons on one database share one key-encryption key file (the CA keys are sealed under it). */
const KEYS_FILE = path.join(tmpDir('tollgate-kek-'), 'kek');
const storageYaml = (connString: string) => ['teleport:', `  keys_file: ${KEYS_FILE}`, '  storage:', '    type: postgres', `    conn_string: ${connString}`, ''].join('\n');

/**
 * Issue 17, point 6: two daemons on one PostgreSQL. A session relayed by A is listed, watched and
 * ended through B, which follows the recording A ships to the shared store (no link between them).
 */
describe('live sessions across two daemons on one PostgreSQL', () => {
  let pg: TestPostgres;
  let a: TestDaemon;
  let b: TestDaemon;
  let sshd: TestSshd;
  let agent: TestAgent;
  let work: string;
  let homeA: string;
  let homeB: string;
  const spawned: Background[] = [];
  const panes: TmuxSession[] = [];

  const tshVia = (home: string, args: readonly string[]) => cli('tsh', args, { env: { ...process.env, TELEPORT_HOME: home, SSH_AUTH_SOCK: agent.socket }, timeoutMs: 30_000 });
  const pane = async (home: string, args: string) => {
    const t = await TmuxSession.start(`cd ${shq(ROOT)} && env TELEPORT_HOME=${shq(home)} SSH_AUTH_SOCK=${shq(agent.socket)} ${shq(process.execPath)} bin/tsh ${args}`, { width: 100, height: 30 });
    panes.push(t);
    return t;
  };
  const lastCounter = (screen: string) => Math.max(0, ...[...screen.matchAll(/counter-(\d+)/g)].map((m) => Number(m[1])));

  beforeAll(async () => {
    pg = await startPostgres();
    const conn = await pg.createDatabase('live');
    const yaml = async () => `${storageYaml(conn)}${await proxyYaml('  authentication:\n    second_factor: off')}`;
    a = await startDaemon({ yaml: await yaml(), proxy: true, onSpawn: (p) => spawned.push(p) });
    b = await startDaemon({ yaml: await yaml(), proxy: true, onSpawn: (p) => spawned.push(p) });
    await a.process.waitForOutput('ssh proxy listening');
    await b.process.waitForOutput('ssh proxy listening');
    work = tmpDir('tollgate-live-pg-');
    homeA = path.join(work, 'tsh-a');
    homeB = path.join(work, 'tsh-b');
    const hostKey = path.join(work, 'node_host');
    expect((await a.tctl(['auth', 'sign', '--host=localhost,127.0.0.1', '-o', hostKey])).code).toBe(0);
    sshd = await startSshd({ trustedUserCaKeys: (await a.tctl(['auth', 'export', '--type=user'])).stdout, hostKey, hostCertificate: `${hostKey}-cert.pub` });
    agent = await TestAgent.start();
    const { token } = JSON.parse((await a.tctl(['users', 'add', 'joe', 'joe,root', '--format=json'])).stdout) as { token: string };
    expect((await postJson(a.webPort, `/webapi/invites/${token}`, { password: PASSWORD })).status).toBe(200);
    await tshLogin({ webPort: a.webPort, home: homeA, user: 'joe', agentSocket: agent.socket });
    await tshLogin({ webPort: b.webPort, home: homeB, user: 'joe', agentSocket: agent.socket });
  }, 120_000);

  afterAll(async () => {
    for (const p of panes) await p.kill();
    await agent?.stop();
    await sshd?.stop();
    for (const p of spawned) await p.stop();
    await pg?.stop();
    if (work) fs.rmSync(work, { recursive: true, force: true });
    for (const d of [a, b]) if (d) fs.rmSync(path.dirname(d.dataDir), { recursive: true, force: true });
  });

  it('6: a session through A is listed, watched and ended through B', async () => {
    const session = await pane(homeA, `ssh -t --port=${sshd.port} root@127.0.0.1 'i=0; while :; do i=$((i+1)); echo counter-$i; sleep 0.2; done'`);
    await session.waitFor('counter-3');
    let id = '';
    await waitFor(async () => {
      const r = await tshVia(homeB, ['sessions', 'ls', '--format=json']);
      const row = (JSON.parse(r.stdout || '[]') as Array<{ id: string; local: boolean; user: string }>).find((s) => s.user === 'joe');
      if (row) expect(row.local).toBe(false);
      id = row?.id ?? '';
      return id !== '';
    }, 'B to list the session A relays');

    const observer = await pane(homeB, `join ${id}`);
    await observer.waitFor(/counter-\d+/, 10_000);
    // Follows within the shipping delay: the observer is at most ~2 s (10 counters) behind.
    for (let i = 0; i < 3; i++) {
      await new Promise((r) => setTimeout(r, 1000));
      const [s, o] = [lastCounter(await session.screen()), lastCounter(await observer.screen())];
      expect(s - o, `session at ${s}, observer at ${o}`).toBeLessThanOrEqual(12);
      expect(o).toBeGreaterThan(0);
    }

    const t0 = Date.now();
    const end = await b.tctl(['sessions', 'end', id, '--message', 'maintenance']);
    expect(end.code, end.stderr).toBe(0);
    expect(end.stdout).toContain(`session ${id} ended`);
    const ended = await session.exit(5_000);
    expect(Date.now() - t0).toBeLessThan(3_000);
    expect(ended.screen).toContain('tollgate: the session was ended by an administrator: maintenance');
    const watched = await observer.exit(10_000);
    expect(watched.screen).toContain('maintenance');
  });

  it('issue 16: tctl lock on B ends the session A relays within 2 s and A refuses new ones; locks rm on A lets joe back', async () => {
    const session = await pane(homeA, `ssh -t --port=${sshd.port} root@127.0.0.1 'i=0; while :; do i=$((i+1)); echo counter-$i; sleep 0.2; done'`);
    await session.waitFor('counter-3');
    const t0 = Date.now();
    const r = await b.tctl(['lock', '--user=joe', '--message=rotate your keys', '--format=json']);
    expect(r.code, r.stderr).toBe(0);
    const ended = await session.exit(5_000);
    expect(Date.now() - t0).toBeLessThan(2_000);
    expect(ended.screen).toContain('rotate your keys');
    const refused = await tshVia(homeA, ['ssh', `--port=${sshd.port}`, 'root@127.0.0.1', 'echo in']);
    expect(refused.stderr).toContain('locked by an administrator: rotate your keys');
    const { id } = JSON.parse(r.stdout) as { id: string };
    expect((await a.tctl(['locks', 'rm', id])).code).toBe(0);
    expect((await tshVia(homeA, ['ssh', `--port=${sshd.port}`, 'root@127.0.0.1', 'echo in'])).stdout).toContain('in');
  });
});
