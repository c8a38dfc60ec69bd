import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SessionJson } from '../../src/lib/recording/session-json.js';
import { TestAgent } from '../helpers/agent.js';
import { PASSWORD, tshLogin } from '../helpers/cluster.js';
import { proxyYaml, startDaemon, type TestDaemon } from '../helpers/daemon.js';
import { postJson } from '../helpers/https.js';
import { startPostgres, type TestPostgres } from '../helpers/postgres.js';
import { type Background, cli, ROOT, spawnBackground, tmpDir, waitFor } from '../helpers/proc.js';
import { startSshd, type TestSshd } from '../helpers/sshd.js';

/*
 * Several daemons sharing one PostgreSQL database (teleport.storage: postgres) are one cluster:
 * one CA, one user list, one session index, recordings any of them can replay. Each daemon has
 * its own data dir and ports; they meet only in the database.
 */

/** A Node stack frame as printed by an uncaught error or a logged `err.stack`. */
const STACK_FRAME = /^ {4}at /m;
/** A WARN/ERROR log line (src/lib/log.ts format) naming the database. Loose on purpose. */
const STORE_ERROR_LINE = /^\S+ (?:WARN|ERROR)\b.*(?:postgres|database|\bstore\b)/im;

/** Daemons on one database share one key-encryption key file (the CA keys are sealed under it). */
const KEYS_FILE = path.join(tmpDir('tollgate-kek-'), 'kek');
const storageYaml = (connString: string) => ['teleport:', `  keys_file: ${KEYS_FILE}`, '  storage:', '    type: postgres', `    conn_string: ${connString}`, ''].join('\n');

describe('PostgreSQL storage: two daemons, one cluster', () => {
  let pg: TestPostgres;
  /** Every daemon process spawned here, stopped in afterAll even when its start-up failed. */
  const spawned: Background[] = [];
  const dirs: string[] = [];

  /** startDaemon on a PostgreSQL-backed config; the process is tracked for cleanup from the moment it exists. */
  const startPgDaemon = async (yaml: string, proxy: boolean): Promise<TestDaemon> => {
    const d = await startDaemon({ yaml, proxy, onSpawn: (p) => spawned.push(p) });
    dirs.push(path.dirname(d.dataDir));
    return d;
  };

  beforeAll(async () => {
    pg = await startPostgres();
  });

  afterAll(async () => {
    for (const p of spawned) await p.stop();
    await pg?.stop();
    for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
  });

  describe('start-up on an empty database', () => {
    it('two daemons started at the same moment end with one user CA and one host CA', async () => {
      const conn = await pg.createDatabase('race_ca');
      const yaml = `${storageYaml(conn)}auth_service:\n  cluster_name: example.test\n`;
      const started = await Promise.allSettled([startPgDaemon(yaml, false), startPgDaemon(yaml, false)]);
      for (const s of started) expect(s.status, s.status === 'rejected' ? String(s.reason) : '').toBe('fulfilled');
      const [a, b] = started.map((s) => (s as PromiseFulfilledResult<TestDaemon>).value) as [TestDaemon, TestDaemon];
      for (const type of ['user', 'host']) {
        const [ea, eb] = await Promise.all([a.tctl(['auth', 'export', `--type=${type}`]), b.tctl(['auth', 'export', `--type=${type}`])]);
        expect(ea.code, ea.stderr).toBe(0);
        expect(eb.code, eb.stderr).toBe(0);
        expect(ea.stdout.trim()).not.toBe('');
        expect(eb.stdout, `--type=${type} differs between the daemons`).toBe(ea.stdout);
      }
      await Promise.all([a.stop(), b.stop()]);
    });
  });

  describe('A and B on one database with a real sshd node', () => {
    let a: TestDaemon;
    let b: TestDaemon;
    let sshd: TestSshd;
    let agent: TestAgent;
    let work: string;
    /** tsh profile logged in through B (login, recordings ls and play through B). */
    let homeB: string;
    /** tsh profile logged in through A (tsh ssh through A). */
    let homeA: string;

    /*
     * tsh ssh has a --proxy flag, but it only checks that it names the active profile; a profile
     * is keyed by the proxy host, and A and B are both 127.0.0.1. So joe logs in twice, into two
     * TELEPORT_HOMEs: once through B (proves login through B; used for play through B) and once
     * through A (used for tsh ssh through A).
     */
    const tshVia = (home: string, args: readonly string[], o: { timeoutMs?: number } = {}) =>
      cli('tsh', args, { env: { ...process.env, TELEPORT_HOME: home, SSH_AUTH_SOCK: agent.socket }, ...o });

    /** Sessions B's web API lists for joe (tsh recordings ls through B); [] while B cannot answer. */
    const listViaB = async (): Promise<SessionJson[]> => {
      const r = await tshVia(homeB, ['recordings', 'ls', '--format=json'], { timeoutMs: 10_000 });
      if (r.code !== 0) return [];
      try {
        return JSON.parse(r.stdout) as SessionJson[];
      } catch {
        return [];
      }
    };

    /** Waits (bounded) until B lists a session with this command, and returns it. */
    const sessionViaB = async (command: string, timeoutMs: number): Promise<SessionJson> => {
      let found: SessionJson | undefined;
      await waitFor(async () => {
        found = (await listViaB()).find((s) => s.command === command);
        return found !== undefined;
      }, `B to list the session "${command}"`, timeoutMs);
      return found!;
    };

    /** joe added through A, signed up through B, logged in through B and A; once, for whichever test needs it first. */
    let joe: Promise<void> | undefined;
    const joeLoggedIn = () =>
      (joe ??= (async () => {
        const add = await a.tctl(['users', 'add', 'joe', 'joe,root', '--format=json']);
        expect(add.code, add.stderr).toBe(0);
        const { token } = JSON.parse(add.stdout) as { token: string };
        const signup = await postJson(b.webPort, `/webapi/invites/${token}`, { password: PASSWORD });
        expect(signup.status, signup.text).toBe(200);
        await tshLogin({ webPort: b.webPort, home: homeB, user: 'joe', agentSocket: agent.socket });
        await tshLogin({ webPort: a.webPort, home: homeA, user: 'joe', agentSocket: agent.socket });
      })());

    beforeAll(async () => {
      const conn = await pg.createDatabase('shared');
      const yaml = async () => `${storageYaml(conn)}${await proxyYaml('  authentication:\n    second_factor: off')}`;
      // One after the other: concurrent start-up has its own test above.
      a = await startPgDaemon(await yaml(), true);
      b = await startPgDaemon(await yaml(), true);
      await a.process.waitForOutput('ssh proxy listening');
      await b.process.waitForOutput('ssh proxy listening');
      work = tmpDir('tollgate-pg-cluster-');
      homeA = path.join(work, 'tsh-a');
      homeB = path.join(work, 'tsh-b');
      const hostKey = path.join(work, 'node_host');
      const signed = await a.tctl(['auth', 'sign', '--host=localhost,127.0.0.1', '-o', hostKey]);
      expect(signed.code, signed.stderr).toBe(0);
      sshd = await startSshd({
        trustedUserCaKeys: (await a.tctl(['auth', 'export', '--type=user'])).stdout,
        hostKey,
        hostCertificate: `${hostKey}-cert.pub`,
      });
      agent = await TestAgent.start();
    });

    afterAll(async () => {
      await agent?.stop();
      await sshd?.stop();
      await b?.stop();
      await a?.stop();
      if (work) fs.rmSync(work, { recursive: true, force: true });
    });

    it('user added through A signs up and logs in through B, runs tsh ssh through A; B replays the session', async () => {
      const exportA = await a.tctl(['auth', 'export', '--type=user']);
      const exportB = await b.tctl(['auth', 'export', '--type=user']);
      expect(exportA.code, exportA.stderr).toBe(0);
      expect(exportB.stdout).toBe(exportA.stdout);

      await joeLoggedIn();

      const command = 'echo shared-store-$((6*7))';
      const ssh = await tshVia(homeA, ['ssh', `--port=${sshd.port}`, 'root@127.0.0.1', command]);
      expect(ssh.stderr).not.toMatch(STACK_FRAME);
      expect(ssh.code, ssh.stderr).toBe(0);
      expect(ssh.stdout).toBe('shared-store-42\n');

      const s = await sessionViaB(command, 15_000);
      expect(s).toMatchObject({ user: 'joe', login: 'root', node: `127.0.0.1:${sshd.port}`, kind: 'exec' });
      // The recording may reach shared storage a moment after the session ends: retry, bounded.
      let play = await tshVia(homeB, ['play', s.id, '--format=text']);
      for (const deadline = Date.now() + 10_000; play.code !== 0 && Date.now() < deadline; ) {
        await new Promise((r) => setTimeout(r, 500));
        play = await tshVia(homeB, ['play', s.id, '--format=text']);
      }
      expect(play.code, play.stderr).toBe(0);
      expect(play.stdout).toBe('shared-store-42\n');
    });

    it('one signup token redeemed at the same moment through A and B: one 200, one 4xx; the user then logs in', async () => {
      const add = await a.tctl(['users', 'add', 'kim', 'root', '--format=json']);
      expect(add.code, add.stderr).toBe(0);
      const { token } = JSON.parse(add.stdout) as { token: string };
      const results = await Promise.all([a.webPort, b.webPort].map((port) => postJson(port, `/webapi/invites/${token}`, { password: PASSWORD })));
      const statuses = results.map((r) => r.status);
      expect(statuses.filter((st) => st === 200), JSON.stringify(results.map((r) => [r.status, r.text]))).toHaveLength(1);
      const other = results.find((r) => r.status !== 200)!;
      expect(other.status, other.text).toBeGreaterThanOrEqual(400);
      expect(other.status, other.text).toBeLessThan(500);
      await tshLogin({ webPort: b.webPort, home: path.join(work, 'tsh-kim'), user: 'kim', agentSocket: agent.socket });
    });

    it('PostgreSQL stopped during a session: the session ends cleanly, A logs a clear error, and ships the recording when the database is back', async () => {
      await joeLoggedIn();
      const command = 'for i in $(seq 1 60); do echo line-$i; sleep 0.2; done';
      const tsh = spawnBackground(process.execPath, [path.join(ROOT, 'bin/tsh'), 'ssh', `--port=${sshd.port}`, 'root@127.0.0.1', command], {
        cwd: ROOT,
        env: { ...process.env, TELEPORT_HOME: homeA, SSH_AUTH_SOCK: agent.socket },
      });
      const lines = (text: string) => [...text.replace(/\r/g, '').matchAll(/^line-(\d+)$/gm)].map((m) => Number(m[1]));
      let pgDown = false;
      try {
        await tsh.waitForOutput(/^line-5$/m, 20_000);
        const beforeKill = Math.max(...lines(tsh.output));
        const aOutputBefore = a.process.output.length;
        pgDown = true;
        await pg.stopServer();

        // The session continues (to line-60) or ends; either way tsh exits on its own, without a stack trace.
        const code = await tsh.waitForExit(30_000);
        expect(tsh.running, `tsh still running 30 s after PostgreSQL stopped:\n${tsh.output}`).toBe(false);
        expect(code, tsh.output).not.toBeNull();
        expect(tsh.output).not.toMatch(STACK_FRAME);

        // A says, in one log line, that the database is unavailable — no stack trace — and keeps running.
        await waitFor(() => STORE_ERROR_LINE.test(a.process.output.slice(aOutputBefore)), 'A to log a WARN/ERROR line about PostgreSQL/the store', 15_000).catch(() => {});
        const aAfter = a.process.output.slice(aOutputBefore);
        expect(aAfter, 'A logged no WARN/ERROR line mentioning postgres/database/store after PostgreSQL stopped').toMatch(STORE_ERROR_LINE);
        expect(a.process.output).not.toMatch(STACK_FRAME);
        expect(a.process.running, a.process.output).toBe(true);
        expect(b.process.running, b.process.output).toBe(true);

        await pg.startServer();
        pgDown = false;
        const s = await sessionViaB(command, 30_000);
        let play = await tshVia(homeB, ['play', s.id, '--format=text']);
        for (const deadline = Date.now() + 15_000; (play.code !== 0 || Math.max(0, ...lines(play.stdout)) < beforeKill) && Date.now() < deadline; ) {
          await new Promise((r) => setTimeout(r, 1_000));
          play = await tshVia(homeB, ['play', s.id, '--format=text']);
        }
        expect(play.code, play.stderr).toBe(0);
        const played = lines(play.stdout);
        // line-1 … line-N in order, with N at least the last line tsh had printed when PostgreSQL went away.
        expect(played).toEqual(played.map((_, i) => i + 1));
        expect(played.length).toBeGreaterThanOrEqual(beforeKill);
        // Recording is mandatory in proxy mode (DESIGN.md): whatever the user saw, the recording has.
        expect(played.length, 'lines tsh printed are missing from the recording').toBeGreaterThanOrEqual(Math.max(...lines(tsh.output)));
        expect(a.process.output).not.toMatch(STACK_FRAME);
      } finally {
        await tsh.stop();
        if (pgDown) await pg.startServer().catch(() => {});
      }
    }, 120_000);
  });
});
