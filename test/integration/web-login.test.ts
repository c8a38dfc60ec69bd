import fs from 'node:fs';
import path from 'node:path';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { currentOtp } from '../../src/lib/auth/otp.js';
import { TestAgent } from '../helpers/agent.js';
import { launchBrowser } from '../helpers/browser.js';
import { proxyYaml, startDaemon, type TestDaemon } from '../helpers/daemon.js';
import { httpsRequest, postJson, postJsonFrom } from '../helpers/https.js';
import { cli, ROOT, run, tmpDir } from '../helpers/proc.js';
import { sshBaseArgs, startSshd, type TestSshd } from '../helpers/sshd.js';
import { shq, TmuxSession } from '../helpers/tmux.js';

/*
 * "Signup, web login API and tsh login": the signup page in headless Chromium, tsh login answered
 * at its real prompt in a terminal, the certificate in a real ssh-agent, a real sshd accepting it.
 */

async function invite(daemon: TestDaemon, user: string, logins: string, ttl = '1h'): Promise<string> {
  const r = await daemon.tctl(['users', 'add', user, logins, `--ttl=${ttl}`, '--format=json']);
  expect(r.code, r.stderr).toBe(0);
  return (JSON.parse(r.stdout) as { token: string }).token;
}

/** tsh in a terminal with its own profile dir and agent. */
function tshCommand(args: string[], env: { home: string; agent?: string }): string {
  const vars = [...(env.agent ? [] : ['-u SSH_AUTH_SOCK']), `TELEPORT_HOME=${shq(env.home)}`, ...(env.agent ? [`SSH_AUTH_SOCK=${shq(env.agent)}`] : [])];
  return `cd ${shq(ROOT)} && env ${vars.join(' ')} ${shq(process.execPath)} bin/tsh ${args.map(shq).join(' ')}`;
}

async function userStatus(daemon: TestDaemon, name: string): Promise<string | undefined> {
  const users = JSON.parse((await daemon.tctl(['users', 'ls', '--format=json'])).stdout) as Array<{ name: string; status: string }>;
  return users.find((u) => u.name === name)?.status;
}

describe('signup and tsh login (second_factor: off)', () => {
  let daemon: TestDaemon;
  let sshd: TestSshd;
  let agent: TestAgent;
  let browser: Browser;
  let home: string;

  beforeAll(async () => {
    daemon = await startDaemon({ proxy: true, yaml: await proxyYaml('  authentication:\n    second_factor: off') });
    sshd = await startSshd({ trustedUserCaKeys: (await daemon.tctl(['auth', 'export', '--type=user'])).stdout });
    agent = await TestAgent.start();
    browser = await launchBrowser();
    home = tmpDir('tollgate-tsh-');
  });
  afterAll(async () => {
    await browser?.close();
    await agent?.stop();
    await sshd?.stop();
    await daemon?.stop();
  });

  it('signup page → tsh login → ssh-agent → plain ssh into a real sshd → tsh logout', async () => {
    const token = await invite(daemon, 'joe', 'joe,root');
    const page = await (await browser.newContext({ ignoreHTTPSErrors: true })).newPage();
    await page.goto(`https://127.0.0.1:${daemon.webPort}/web/invite/${token}`);
    await expect(page.locator('h1').textContent()).resolves.toContain('joe');
    // Too short first: the page says why and nothing changes.
    await page.fill('#password', 'short');
    await page.fill('#confirm', 'short');
    await page.evaluate(() => document.querySelectorAll('input').forEach((i) => i.removeAttribute('minlength')));
    await page.click('#submit');
    await expect(page.locator('#error').textContent()).resolves.toMatch(/at least 12 characters/);
    expect(await userStatus(daemon, 'joe')).toBe('pending');
    await page.fill('#password', 'correct horse battery staple');
    await page.fill('#confirm', 'correct horse battery staple');
    await page.click('#submit');
    await expect(page.locator('#done').textContent()).resolves.toContain('ready');
    expect(await userStatus(daemon, 'joe')).toBe('active');

    const tsh = await TmuxSession.start(tshCommand(['login', `--proxy=127.0.0.1:${daemon.webPort}`, '--insecure', '--user=joe'], { home, agent: agent.socket }));
    try {
      await tsh.waitFor('Enter password for user joe:');
      await tsh.type('correct horse battery staple');
      const { code, screen } = await tsh.exit();
      expect(code, screen).toBe(0);
      expect(screen).toMatch(/Logged in as:\s+joe/);
      expect(screen).toMatch(/Logins:\s+joe, root/);
      expect(screen).toMatch(/ssh-agent:\s+added/);
    } finally {
      await tsh.kill();
    }

    const lines = await agent.list();
    const certLine = lines.find((l) => l.startsWith('ssh-ed25519-cert-v01@openssh.com '));
    expect(certLine, lines.join('\n')).toBeDefined();
    const shown = await run('ssh-keygen', ['-L', '-f', '-'], { input: `${certLine}\n` });
    expect(shown.stdout).toMatch(/Key ID: "joe"/);

    // Only the agent: no key files, no other identities.
    const ssh = await run('ssh', [...sshBaseArgs(sshd.port, { agent: agent.socket }), '-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null', 'root@127.0.0.1', 'id -un']);
    expect(ssh.stderr).toBe('');
    expect(ssh.stdout.trim()).toBe('root');

    // Files: profile and keys 0600, the data dir's TLS key 0600.
    const keyDir = path.join(home, 'keys', '127.0.0.1');
    for (const f of ['joe', 'joe.pub', 'joe-cert.pub']) expect(fs.statSync(path.join(keyDir, f)).mode & 0o777).toBe(0o600);
    expect(fs.statSync(path.join(home, '127.0.0.1.json')).mode & 0o777).toBe(0o600);
    expect(fs.statSync(path.join(home, 'known_hosts')).mode & 0o777).toBe(0o600);
    // The host CA is trusted for the cluster's names and the proxy's, not `*` (issue 16).
    expect(fs.readFileSync(path.join(home, 'known_hosts'), 'utf8')).toMatch(/^@cert-authority \*\.example\.test,127\.0\.0\.1 ssh-ed25519 AAAA\S+ tollgate-cluster=example\.test\n$/);
    expect(fs.statSync(path.join(daemon.dataDir, 'webproxy_key.pem')).mode & 0o777).toBe(0o600);

    const status = await cli('tsh', ['status'], { env: { ...process.env, TELEPORT_HOME: home } });
    expect(status.stdout).toMatch(/Logged in as:\s+joe/);
    expect(status.stdout).toMatch(/valid for 1[12]h/);

    const out = await cli('tsh', ['logout'], { env: { ...process.env, TELEPORT_HOME: home, SSH_AUTH_SOCK: agent.socket } });
    expect(out.code, out.stderr).toBe(0);
    expect((await agent.list()).some((l) => l.startsWith('ssh-ed25519-cert-v01@openssh.com '))).toBe(false);
    expect(fs.existsSync(keyDir)).toBe(false);
    expect(fs.existsSync(path.join(home, '127.0.0.1.json'))).toBe(false);

    const events = JSON.parse((await daemon.tctl(['events', 'ls', '--user=joe', '--type=user.login', '--format=json'])).stdout) as Array<{ success: boolean; addr: string }>;
    expect(events[0]).toMatchObject({ success: true, addr: '127.0.0.1' });
  });

  it('without an ssh-agent the key stays on disk and one warning says how to start one', async () => {
    const home = tmpDir('tollgate-tsh-noagent-');
    const tsh = await TmuxSession.start(tshCommand(['login', `--proxy=127.0.0.1:${daemon.webPort}`, '--insecure', '--user=joe'], { home }));
    try {
      await tsh.waitFor('Enter password for user joe:');
      await tsh.type('correct horse battery staple');
      const { code, screen } = await tsh.exit();
      expect(code, screen).toBe(0);
      expect(screen).toMatch(/ssh-agent:\s+not added: no ssh-agent is running/);
      expect(screen).toMatch(/^WARNING: the key was not added to an ssh-agent \(no ssh-agent is running \(SSH_AUTH_SOCK is not set\)\); start one with: eval "\$\(ssh-agent\)" and run tsh login again$/m);
    } finally {
      await tsh.kill();
    }
    expect(fs.existsSync(path.join(home, 'keys', '127.0.0.1', 'joe'))).toBe(true);
  });

  it('a used or expired signup link is refused by the page and by the API', async () => {
    const used = await invite(daemon, 'amy', 'amy');
    expect((await postJson(daemon.webPort, `/webapi/invites/${used}`, { password: 'a long enough password' })).status).toBe(200);
    const again = await postJson(daemon.webPort, `/webapi/invites/${used}`, { password: 'another long password' });
    expect(again.status).toBe(400);
    expect(again.json).toMatchObject({ error: { message: 'this signup link has already been used' } });
    const page = await httpsRequest(daemon.webPort, 'GET', `/web/invite/${used}`);
    expect(page.status).toBe(400);
    expect(page.text).toContain('this signup link has already been used');

    const expired = await invite(daemon, 'bea', 'bea', '1s');
    await new Promise((r) => setTimeout(r, 1200));
    const p = await (await browser.newContext({ ignoreHTTPSErrors: true })).newPage();
    const res = await p.goto(`https://127.0.0.1:${daemon.webPort}/web/invite/${expired}`);
    expect(res!.status()).toBe(400);
    await expect(p.locator('#error').textContent()).resolves.toContain('expired');
    expect(await p.locator('form').count()).toBe(0);
    const api = await postJson(daemon.webPort, `/webapi/invites/${expired}`, { password: 'a long enough password' });
    expect(api.status).toBe(400);
    expect(await userStatus(daemon, 'bea')).toBe('pending');
    const unknown = await httpsRequest(daemon.webPort, 'GET', `/web/invite/${'0'.repeat(64)}`);
    expect(unknown.status).toBe(404);
  });

  it('throttling: after 5 wrong passwords from one address even the right one gets the same answer there; the user is not locked; the audit log has the real reasons', async () => {
    const token = await invite(daemon, 'lou', 'lou');
    await postJson(daemon.webPort, `/webapi/invites/${token}`, { password: 'the right password!' });
    const body = (password: string) => ({ user: 'lou', password, pub_key: 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOzAekhu24KCJsGSgnfWsbUvQmUiFYk2veh1jV2Btw4N' });
    // From 127.0.0.4: the tests after this one log in from 127.0.0.1, which must stay unthrottled.
    for (let i = 0; i < 5; i++) {
      const r = await postJsonFrom('127.0.0.4', daemon.webPort, '/webapi/ssh/certs', body(`wrong password ${i}`));
      expect(r.status).toBe(403);
      expect(r.json).toMatchObject({ error: { message: 'invalid credentials' } });
    }
    const sixth = await postJsonFrom('127.0.0.4', daemon.webPort, '/webapi/ssh/certs', body('the right password!'));
    expect(sixth.status).toBe(403);
    // The same answer as a wrong password: nothing tells a stranger that lou exists or is throttled.
    expect(sixth.json).toEqual({ error: { kind: 'access-denied', message: 'invalid credentials', hint: 'check the user name, password and authenticator code' } });
    const events = JSON.parse((await daemon.tctl(['events', 'ls', '--user=lou', '--type=user.login', '--format=json'])).stdout) as Array<{ success: boolean; reason: string; addr: string }>;
    expect(events.filter((e) => !e.success && e.reason === 'wrong password')).toHaveLength(5);
    expect(events[0]).toMatchObject({ success: false, reason: expect.stringMatching(/^too many failed logins from this address/), addr: '127.0.0.4' });
    // Five failures from one address lock no user (test/integration/revocation.test.ts has the rest).
    expect((await daemon.tctl(['users', 'ls'])).stdout).toMatch(/^lou\s+lou\s+access\s+\*\s+active/m);
    // From another address the right password works; tsh shows any failure as the one generic line.
    expect((await postJson(daemon.webPort, '/webapi/ssh/certs', body('the right password!'))).status).toBe(200);
    const tsh = await TmuxSession.start(tshCommand(['login', `--proxy=127.0.0.1:${daemon.webPort}`, '--insecure', '--user=lou'], { home: tmpDir() }));
    try {
      await tsh.waitFor('Enter password');
      await tsh.type('not the password');
      const { code, screen } = await tsh.exit();
      expect(code).toBe(1);
      expect(screen).toMatch(/^ERROR: invalid credentials; check the user name, password and authenticator code$/m);
    } finally {
      await tsh.kill();
    }
  });

  it('bad requests get a 4xx JSON error and write nothing', async () => {
    const certsBefore = (await daemon.tctl(['events', 'ls', '--type=cert.create', '--format=json'])).stdout;
    const post = (body: string, type = 'application/json') => httpsRequest(daemon.webPort, 'POST', '/webapi/ssh/certs', body, { 'content-type': type });
    const malformed = await post('{"user": "joe",');
    expect(malformed.status).toBe(400);
    expect(malformed.json).toMatchObject({ error: { kind: 'bad-parameter', message: 'request body is not valid JSON' } });
    // curl, because it reads the early 413 while still sending; node's client reports a hang-up.
    const hugeFile = path.join(tmpDir(), 'huge.json');
    fs.writeFileSync(hugeFile, JSON.stringify({ user: 'joe', password: 'x'.repeat(200_000), pub_key: 'k' }));
    const huge = await run('curl', ['-sk', '-o', '-', '-w', '\\n%{http_code}', '-H', 'content-type: application/json', '--data-binary', `@${hugeFile}`, `https://127.0.0.1:${daemon.webPort}/webapi/ssh/certs`]);
    const [hugeBody, hugeStatus] = huge.stdout.split('\n');
    expect(hugeStatus).toBe('413');
    expect(JSON.parse(hugeBody!)).toMatchObject({ error: { message: expect.stringMatching(/larger than/) } });
    const missing = await post(JSON.stringify({ user: 'joe' }));
    expect(missing.status).toBe(400);
    expect((missing.json as { error: { message: string } }).error.message).toMatch(/password/);
    const wrongType = await post('user=joe', 'application/x-www-form-urlencoded');
    expect(wrongType.status).toBe(400);
    const unknown = await post(JSON.stringify({ user: 'nobody', password: 'whatever you like', pub_key: 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOzAekhu24KCJsGSgnfWsbUvQmUiFYk2veh1jV2Btw4N' }));
    expect(unknown.status).toBe(403);
    expect(unknown.json).toMatchObject({ error: { message: 'invalid credentials' } });
    const badKey = await post(JSON.stringify({ user: 'joe', password: 'correct horse battery staple', pub_key: 'not a key' }));
    expect(badKey.status).toBe(400);
    expect((await daemon.tctl(['events', 'ls', '--type=cert.create', '--format=json'])).stdout).toBe(certsBefore);
    const badSignup = await httpsRequest(daemon.webPort, 'POST', `/webapi/invites/${'0'.repeat(64)}`, '{', { 'content-type': 'application/json' });
    expect(badSignup.status).toBe(400);
  });

  it('tsh: unreachable proxy, untrusted TLS and wrong password are one line each', async () => {
    const env = { ...process.env, TELEPORT_HOME: tmpDir() };
    const unreachable = await cli('tsh', ['login', '--proxy=127.0.0.1:1', '--user=joe'], { env });
    expect(unreachable.code).toBe(3);
    expect(unreachable.stderr).toMatch(/^ERROR: cannot reach the proxy at 127\.0\.0\.1:1 \(ECONNREFUSED\); .*\n$/);
    const untrusted = await cli('tsh', ['login', `--proxy=127.0.0.1:${daemon.webPort}`, '--user=joe'], { env });
    expect(untrusted.code).toBe(1);
    expect(untrusted.stderr).toMatch(/^ERROR: the proxy's TLS certificate at 127\.0\.0\.1:\d+ is not trusted \(.*\); its key's pin is sha256:[0-9a-f]{64}; .*--fingerprint=sha256:.*\n$/);
    const noTty = await cli('tsh', ['login', `--proxy=127.0.0.1:${daemon.webPort}`, '--insecure', '--user=joe'], { env });
    expect(noTty.stderr).toMatch(/ERROR: tsh login needs a terminal/);
    const tsh = await TmuxSession.start(tshCommand(['login', `--proxy=127.0.0.1:${daemon.webPort}`, '--insecure', '--user=joe'], { home: env.TELEPORT_HOME }));
    try {
      await tsh.waitFor('Enter password');
      await tsh.type('not the password');
      const { code, screen } = await tsh.exit();
      expect(code).toBe(1);
      expect(screen).toMatch(/^ERROR: invalid credentials; check the user name, password and authenticator code$/m);
    } finally {
      await tsh.kill();
    }
  });
});

describe('signup and tsh login with second_factor: otp', () => {
  let daemon: TestDaemon;
  let agent: TestAgent;
  let browser: Browser;

  beforeAll(async () => {
    daemon = await startDaemon({ proxy: true, yaml: await proxyYaml('  authentication:\n    second_factor: otp') });
    agent = await TestAgent.start();
    browser = await launchBrowser();
  });
  afterAll(async () => {
    await browser?.close();
    await agent?.stop();
    await daemon?.stop();
  });

  it('the page shows a QR code, refuses a wrong code, accepts the right one; tsh asks for the OTP', async () => {
    const token = await invite(daemon, 'olga', 'olga,root');
    const page = await (await browser.newContext({ ignoreHTTPSErrors: true })).newPage();
    await page.goto(`https://127.0.0.1:${daemon.webPort}/web/invite/${token}`);
    expect(await page.locator('#otp-qr').isVisible()).toBe(true);
    const qrSize = await page.locator('#otp-qr').evaluate((img: HTMLImageElement) => img.naturalWidth);
    expect(qrSize).toBeGreaterThan(100);
    const secret = (await page.locator('#otp-secret').textContent())!.trim();
    expect(secret).toMatch(/^[A-Z2-7]{16,}$/);
    const good = await currentOtp(secret);
    const wrong = String((Number(good) + 500_000) % 1_000_000).padStart(6, '0');
    await page.fill('#password', 'olga has a long password');
    await page.fill('#confirm', 'olga has a long password');
    await page.fill('#otp_code', wrong);
    await page.click('#submit');
    await expect(page.locator('#error').textContent()).resolves.toMatch(/authenticator code is not valid/);
    expect(await userStatus(daemon, 'olga')).toBe('pending');
    // The same secret is shown again, so the app the user already scanned keeps working.
    expect((await page.locator('#otp-secret').textContent())!.trim()).toBe(secret);
    await page.fill('#password', 'olga has a long password');
    await page.fill('#confirm', 'olga has a long password');
    await page.fill('#otp_code', await currentOtp(secret));
    await page.click('#submit');
    await expect(page.locator('#done').textContent()).resolves.toContain('ready');

    const home = tmpDir('tollgate-tsh-otp-');
    // A wrong OTP: refused, one line.
    const bad = await TmuxSession.start(tshCommand(['login', `--proxy=127.0.0.1:${daemon.webPort}`, '--insecure', '--user=olga'], { home, agent: agent.socket }));
    try {
      await bad.waitFor('Enter password');
      await bad.type('olga has a long password');
      await bad.waitFor('Enter your OTP token');
      await bad.type(wrong);
      const { code, screen } = await bad.exit();
      expect(code).toBe(1);
      expect(screen).toMatch(/^ERROR: invalid credentials; /m);
    } finally {
      await bad.kill();
    }
    const events = JSON.parse((await daemon.tctl(['events', 'ls', '--user=olga', '--type=user.login', '--format=json'])).stdout) as Array<{ reason?: string }>;
    expect(events[0]!.reason).toBe('wrong OTP code');

    const tsh = await TmuxSession.start(tshCommand(['login', `--proxy=127.0.0.1:${daemon.webPort}`, '--insecure', '--user=olga'], { home, agent: agent.socket }));
    try {
      await tsh.waitFor('Enter password');
      await tsh.type('olga has a long password');
      await tsh.waitFor('Enter your OTP token');
      await tsh.type(await currentOtp(secret));
      const { code, screen } = await tsh.exit();
      expect(code, screen).toBe(0);
      expect(screen).toMatch(/Logged in as:\s+olga/);
    } finally {
      await tsh.kill();
    }
    expect((await agent.list()).some((l) => l.startsWith('ssh-ed25519-cert-v01@openssh.com '))).toBe(true);
  });
});
