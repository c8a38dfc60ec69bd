import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { expect } from 'vitest';
import type { SessionRecord } from '../../src/lib/store/types.js';
import { TestAgent } from './agent.js';
import { proxyYaml, SSH_LISTENING, startDaemon, type TestDaemon } from './daemon.js';
import { postJson } from './https.js';
import { cli, ROOT, run, tmpDir, type RunResult } from './proc.js';
import { startSshd, type TestSshd } from './sshd.js';
import { shq, TmuxSession } from './tmux.js';

export const PASSWORD = 'correct horse battery staple';

/**
 * A whole cluster on loopback: daemon (auth + web + SSH proxy), a real sshd node that trusts the
 * user CA and presents a host certificate for localhost/127.0.0.1, a real ssh-agent, and a tsh
 * profile for joe (logins joe, root) made by a real `tsh login` at its prompt.
 */
export interface Cluster {
  daemon: TestDaemon;
  sshd: TestSshd;
  agent: TestAgent;
  home: string;
  sshPort: number;
  env: NodeJS.ProcessEnv;
  tsh(args: readonly string[], opts?: { input?: string; timeoutMs?: number }): Promise<RunResult>;
  stop(): Promise<void>;
}

/** `teleportYaml`: lines of the config's `teleport:` section (indented two spaces), e.g. log format, diag_addr. */
export async function startCluster(opts: { authYaml?: string; proxyYaml?: string; teleportYaml?: string; nodeHostCert?: boolean; workers?: number | 'auto' | 'config' } = {}): Promise<Cluster> {
  const yaml =
    (opts.teleportYaml ? `teleport:\n${opts.teleportYaml}\n` : '') +
    (await proxyYaml(['  authentication:', '    second_factor: off', ...(opts.authYaml ? [opts.authYaml] : [])].join('\n'), opts.proxyYaml));
  const daemon = await startDaemon({ proxy: true, yaml, ...(opts.workers !== undefined ? { workers: opts.workers } : {}) });
  await daemon.process.waitForOutput(SSH_LISTENING);
  const sshPort = Number(SSH_LISTENING.exec(daemon.process.output)![1]);
  const work = tmpDir('tollgate-cluster-');
  let hostKey: string | undefined;
  if (opts.nodeHostCert !== false) {
    hostKey = path.join(work, 'node_host');
    const r = await daemon.tctl(['auth', 'sign', '--host=localhost,127.0.0.1', '-o', hostKey]);
    expect(r.code, r.stderr).toBe(0);
  }
  const sshd = await startSshd({
    trustedUserCaKeys: (await daemon.tctl(['auth', 'export', '--type=user'])).stdout,
    ...(hostKey ? { hostKey, hostCertificate: `${hostKey}-cert.pub` } : {}),
  });
  const agent = await TestAgent.start();
  const home = path.join(work, 'tsh');
  const add = JSON.parse((await daemon.tctl(['users', 'add', 'joe', 'joe,root', '--format=json'])).stdout) as { token: string };
  expect((await postJson(daemon.webPort, `/webapi/invites/${add.token}`, { password: PASSWORD })).status).toBe(200);
  const login = await TmuxSession.start(
    `cd ${shq(ROOT)} && env TELEPORT_HOME=${shq(home)} SSH_AUTH_SOCK=${shq(agent.socket)} ${shq(process.execPath)} bin/tsh login --proxy=127.0.0.1:${daemon.webPort} --insecure --user=joe`,
  );
  try {
    await login.waitFor('Enter password');
    await login.type(PASSWORD);
    const { code, screen } = await login.exit();
    expect(code, screen).toBe(0);
  } finally {
    await login.kill();
  }
  const env = { ...process.env, TELEPORT_HOME: home, SSH_AUTH_SOCK: agent.socket };
  return {
    daemon,
    sshd,
    agent,
    home,
    sshPort,
    env,
    tsh: (args, o = {}) => cli('tsh', args, { env, ...o }),
    stop: async () => {
      await agent.stop();
      await sshd.stop();
      await daemon.stop();
      fs.rmSync(work, { recursive: true, force: true });
    },
  };
}

/**
 * A real `tsh login` at its password prompt (in tmux) into the profile dir `home`, against the web
 * proxy on `webPort`; fails the test unless tsh exits 0. second_factor must be off.
 */
export async function tshLogin(o: { webPort: number; home: string; user: string; password?: string; agentSocket?: string }): Promise<void> {
  const agent = o.agentSocket ? ` SSH_AUTH_SOCK=${shq(o.agentSocket)}` : '';
  const login = await TmuxSession.start(
    `cd ${shq(ROOT)} && env TELEPORT_HOME=${shq(o.home)}${agent} ${shq(process.execPath)} bin/tsh login --proxy=127.0.0.1:${o.webPort} --insecure --user=${shq(o.user)}`,
  );
  try {
    await login.waitFor('Enter password');
    await login.type(o.password ?? PASSWORD);
    const { code, screen } = await login.exit();
    expect(code, screen).toBe(0);
  } finally {
    await login.kill();
  }
}

/** Reads the session index straight from the daemon's store. */
export async function sessions(daemon: TestDaemon): Promise<SessionRecord[]> {
  const { createSqliteStore } = await import('../../src/lib/store/sqlite.js');
  const store = await createSqliteStore(path.join(daemon.dataDir, 'tollgate.db'));
  try {
    return await store.listSessions({ limit: 1000 });
  } finally {
    await store.close();
  }
}

export function castEvents(daemon: TestDaemon, id: string): { header: Record<string, unknown>; events: [number, string, string][] } {
  const [head, ...lines] = fs.readFileSync(path.join(daemon.dataDir, 'recordings', `${id}.cast`), 'utf8').trimEnd().split('\n');
  return { header: JSON.parse(head!) as Record<string, unknown>, events: lines.map((l) => JSON.parse(l) as [number, string, string]) };
}

export { run };

/** `tsh ssh ARGS` running in the background with its output collected: for tests that act while a session runs. */
export function spawnTshSsh(c: Cluster, args: readonly string[]): { out(): string; err(): string; exited: Promise<number | null>; child: ChildProcess } {
  const child = spawn(process.execPath, [path.join(ROOT, 'bin/tsh'), 'ssh', ...args], { cwd: ROOT, env: c.env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  return { out: () => out, err: () => err, exited, child };
}

/** The recording of the session whose command contains `needle` has ended and verifies as `verified` with `tctl recordings verify FILE`. */
export async function expectRecordingVerified(daemon: TestDaemon, needle: string, allowedSigners: string): Promise<void> {
  const rec = (await sessions(daemon)).find((s) => s.command?.includes(needle));
  expect(rec?.endedAt).not.toBeNull();
  const v = await cli('tctl', ['recordings', 'verify', path.join(daemon.dataDir, 'recordings', `${rec!.id}.cast`), `--allowed-signers=${allowedSigners}`]);
  expect(v.code, v.stdout + v.stderr).toBe(0);
  expect(v.stdout).toMatch(/verified/);
}
