import https from 'node:https';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { auditEvents } from '../helpers/audit.js';
import { PASSWORD, startCluster, tshLogin, type Cluster } from '../helpers/cluster.js';
import { postJson } from '../helpers/https.js';
import { ROOT, run, waitFor } from '../helpers/proc.js';
import { shq, TmuxSession } from '../helpers/tmux.js';

/** POST /webapi/ssh/certs from a chosen loopback source address (127.0.0.0/8 binds without setup). */
function certsFrom(localAddress: string, port: number, body: unknown): Promise<{ status: number; json: unknown }> {
  return new Promise((resolve, reject) => {
    const data = JSON.stringify(body);
    const req = https.request({ host: '127.0.0.1', port, method: 'POST', path: '/webapi/ssh/certs', localAddress, rejectUnauthorized: false, headers: { 'content-type': 'application/json' }, timeout: 15_000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, json: JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown }));
    });
    req.on('error', reject);
    req.end(data);
  });
}

const PUB = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOzAekhu24KCJsGSgnfWsbUvQmUiFYk2veh1jV2Btw4N';

/*
 * Issue 16, acceptance 3 and 4 against a whole cluster: locks end running sessions within 2 s
 * and refuse new ones until removed; an old certificate is refused after a reset and after the
 * user is re-created with fewer logins; deleting a user ends their sessions; twenty bad web
 * logins from one address neither lock joe out of the web from elsewhere nor touch SSH.
 */
describe('revocation at the proxy and login throttling', () => {
  let c: Cluster;
  const panes: TmuxSession[] = [];
  beforeAll(async () => {
    c = await startCluster();
  }, 120_000);
  afterAll(async () => {
    for (const p of panes) await p.kill();
    await c?.stop();
  });

  const sshTrue = (login = 'root') => c.tsh(['ssh', `--port=${c.sshd.port}`, `${login}@127.0.0.1`, 'echo reached'], { timeoutMs: 30_000 });
  const counterSession = async () => {
    const t = await TmuxSession.start(
      `cd ${shq(ROOT)} && env TELEPORT_HOME=${shq(c.home)} SSH_AUTH_SOCK=${shq(c.agent.socket)} ${shq(process.execPath)} bin/tsh ssh -t --port=${c.sshd.port} root@127.0.0.1 'i=0; while :; do i=$((i+1)); echo counter-$i; sleep 0.2; done'`,
      { width: 100, height: 30 },
    );
    panes.push(t);
    await t.waitFor('counter-2', 20_000);
    return t;
  };

  it('4: twenty bad web logins for joe from one address: each gets the same answer, joe logs in from another address, tsh ssh works throughout', async () => {
    // The stranger's address (127.0.0.1, where tsh runs, stays unthrottled for the tests after this one).
    const bad = (i: number) => certsFrom('127.0.0.3', c.daemon.webPort, { user: 'joe', password: `wrong ${i}`, pub_key: PUB });
    const ssh = sshTrue();
    const answers = await Promise.all(Array.from({ length: 20 }, (_, i) => bad(i)));
    const during = await ssh;
    expect(new Set(answers.map((a) => `${a.status} ${JSON.stringify(a.json)}`))).toEqual(new Set([`403 ${JSON.stringify({ error: { kind: 'access-denied', message: 'invalid credentials', hint: 'check the user name, password and authenticator code' } })}`]));
    expect(during.stdout, during.stderr).toContain('reached');
    const elsewhere = await certsFrom('127.0.0.2', c.daemon.webPort, { user: 'joe', password: PASSWORD, pub_key: PUB });
    expect(elsewhere.status, JSON.stringify(elsewhere.json)).toBe(200);
    const after = await sshTrue();
    expect(after.stdout, after.stderr).toContain('reached');
    expect((await c.daemon.tctl(['users', 'ls'])).stdout).toMatch(/^joe\s.*\sactive\s/m);
  }, 60_000);

  it('3: tctl lock --user=joe ends the running session within 2 s with the message; new sessions are refused; tctl locks rm lets joe back', async () => {
    const session = await counterSession();
    const t0 = Date.now();
    const r = await c.daemon.tctl(['lock', '--user=joe', '--message=incident 42', '--format=json']);
    expect(r.code, r.stderr).toBe(0);
    const lock = JSON.parse(r.stdout) as { id: string };
    const ended = await session.exit(5_000);
    expect(Date.now() - t0).toBeLessThan(2_000);
    expect(ended.screen).toContain('incident 42');
    const end = (await auditEvents(c.daemon, ['session.end'])).find((e) => String(e.fields.reason ?? '').includes(`lock ${lock.id}`));
    expect(end?.fields.reason).toBe(`ended by lock ${lock.id} (user=joe): incident 42`);
    expect((await auditEvents(c.daemon, ['lock.created'])).map((e) => e.fields.id)).toContain(lock.id);

    const refused = await sshTrue();
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toContain('tollgate: access denied: locked by an administrator: incident 42');
    expect((await c.daemon.tctl(['locks', 'ls'])).stdout).toContain('user=joe');
    // The same lock for legacy nodes: the KRL names joe's key id (tctl writes the binary file).
    const krl = path.join(c.home, 'revoked.krl');
    const exported = await c.daemon.tctl(['auth', 'export', '--type=krl', `--out=${krl}`]);
    expect(exported.code, exported.stderr).toBe(0);
    expect(exported.stderr).toContain('1 locked user(s) by key id');
    const listed = await run('ssh-keygen', ['-Q', '-l', '-f', krl]);
    expect(listed.stdout + listed.stderr).toMatch(/joe/);

    expect((await c.daemon.tctl(['locks', 'rm', lock.id])).code).toBe(0);
    expect((await sshTrue()).stdout).toContain('reached');
    expect((await auditEvents(c.daemon, ['lock.deleted'])).map((e) => e.fields.id)).toContain(lock.id);
  }, 60_000);

  it('3: after tctl users reset the old certificate is refused for every login', async () => {
    const r = await c.daemon.tctl(['users', 'reset', 'joe', '--format=json']);
    expect(r.code, r.stderr).toBe(0);
    for (const login of ['root', 'joe']) {
      const s = await sshTrue(login);
      expect(s.code, login).not.toBe(0);
      expect(s.stderr).toContain("your certificate was issued before joe's credentials were reset");
    }
    const { token } = JSON.parse(r.stdout) as { token: string };
    expect((await postJson(c.daemon.webPort, `/webapi/invites/${token}`, { password: PASSWORD })).status).toBe(200);
    await tshLogin({ webPort: c.daemon.webPort, home: c.home, user: 'joe', agentSocket: c.agent.socket });
    expect((await sshTrue()).stdout).toContain('reached');
  }, 60_000);

  it('3: deleting joe ends the running session; joe re-created with fewer logins: the old certificate is refused for every login', async () => {
    const session = await counterSession();
    const t0 = Date.now();
    expect((await c.daemon.tctl(['users', 'rm', 'joe'])).code).toBe(0);
    const ended = await session.exit(5_000);
    expect(Date.now() - t0).toBeLessThan(2_000);
    expect(ended.screen).toContain('user joe was deleted');
    await c.daemon.tctl(['users', 'add', 'joe', 'joe']);
    for (const login of ['root', 'joe']) {
      const s = await sshTrue(login);
      expect(s.code, login).not.toBe(0);
      expect(s.stderr).toContain('your certificate was issued before user joe was created');
    }
    await waitFor(async () => (await auditEvents(c.daemon, ['session.rejected'])).length >= 2, 'the refusals in the audit log');
  }, 60_000);
});
