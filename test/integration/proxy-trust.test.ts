import fs from 'node:fs';
import https from 'node:https';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PASSWORD } from '../helpers/cluster.js';
import { startDaemon, type TestDaemon } from '../helpers/daemon.js';
import { postJson } from '../helpers/https.js';
import { cli, freePort, ROOT, run, tmpDir } from '../helpers/proc.js';
import { shq, TmuxSession } from '../helpers/tmux.js';

/*
 * Issue 16, acceptance 1 and 2: tsh pins the proxy's TLS key and refuses a different one at the
 * same address before sending anything; whatever a (fake) proxy answers cannot become a line of
 * `tsh config` output.
 */

function tshCommand(args: string[], home: string): string {
  return `cd ${shq(ROOT)} && env -u SSH_AUTH_SOCK TELEPORT_HOME=${shq(home)} ${shq(process.execPath)} bin/tsh ${args.map(shq).join(' ')}`;
}

async function daemonAt(webPort: number, sshPort: number, dataDir?: string): Promise<TestDaemon> {
  const yaml = ['auth_service:', '  cluster_name: example.test', '  authentication:', '    second_factor: off', 'proxy_service:', `  web_listen_addr: 127.0.0.1:${webPort}`, `  listen_addr: 127.0.0.1:${sshPort}`, ''].join('\n');
  return startDaemon({ proxy: true, yaml, ...(dataDir ? { dataDir } : {}) });
}

async function pinOf(daemon: TestDaemon): Promise<string> {
  const s = await daemon.tctl(['status', '--format=json']);
  expect(s.code, s.stderr).toBe(0);
  return (JSON.parse(s.stdout) as { web_tls_pin: string }).web_tls_pin;
}

describe('tsh pins the proxy (acceptance 1)', () => {
  let real: TestDaemon | undefined;
  let impostor: TestDaemon | undefined;
  let webPort: number;
  let sshPort: number;
  const home = tmpDir('tollgate-pin-');

  beforeAll(async () => {
    webPort = await freePort();
    sshPort = await freePort();
    real = await daemonAt(webPort, sshPort);
    const add = JSON.parse((await real.tctl(['users', 'add', 'joe', 'joe', '--format=json'])).stdout) as { token: string };
    expect((await postJson(webPort, `/webapi/invites/${add.token}`, { password: PASSWORD })).status).toBe(200);
  });
  afterAll(async () => {
    await real?.stop();
    await impostor?.stop();
  });

  it('tctl status prints the pin; a TTY login shows it and asks; --fingerprint logs in without --insecure; nothing insecure is saved', async () => {
    const pin = await pinOf(real!);
    expect(pin).toMatch(/^sha256:[0-9a-f]{64}$/);
    const text = await real!.tctl(['status']);
    expect(text.stdout).toContain(`Proxy TLS pin:`);
    expect(text.stdout).toContain(pin);
    // The signup output carries it too, for the user's first login.
    const invite = await real!.tctl(['users', 'add', 'ann', 'ann']);
    expect(invite.stdout).toContain(`tsh login --fingerprint=${pin}`);

    // Declining at the prompt sends no password (the prompt never comes).
    const ask = await TmuxSession.start(tshCommand(['login', `--proxy=127.0.0.1:${webPort}`, '--user=joe'], home));
    try {
      const screen = await ask.waitFor('Trust this proxy');
      expect(screen).toContain(`Its key's pin is ${pin}`);
      await ask.type('n');
      const r = await ask.exit();
      expect(r.code).toBe(1);
      expect(r.screen).not.toContain('Enter password');
      expect(r.screen).toMatch(/you declined its key/);
    } finally {
      await ask.kill();
    }

    // Upper-case SHA256: as a person may type it; no prompt about trust, only the password.
    const login = await TmuxSession.start(tshCommand(['login', `--proxy=127.0.0.1:${webPort}`, '--user=joe', `--fingerprint=${pin.toUpperCase()}`], home));
    try {
      await login.waitFor('Enter password');
      await login.type(PASSWORD);
      const { code, screen } = await login.exit();
      expect(code, screen).toBe(0);
      expect(screen).not.toContain('Trust this proxy');
    } finally {
      await login.kill();
    }
    const saved = JSON.parse(fs.readFileSync(path.join(home, '127.0.0.1.json'), 'utf8')) as Record<string, unknown>;
    expect(saved.tls_pin).toBe(pin);
    expect('insecure' in saved).toBe(false);
    expect(JSON.stringify(saved)).not.toMatch(/insecure/);
    // Later requests go through the pin (no --insecure anywhere).
    const ls = await cli('tsh', ['recordings', 'ls'], { env: { ...process.env, TELEPORT_HOME: home } });
    expect(ls.code, ls.stderr).toBe(0);

    // A wrong --fingerprint is refused before the password prompt, without a terminal too.
    const wrong = await cli('tsh', ['login', `--proxy=127.0.0.1:${webPort}`, '--user=joe', `--fingerprint=sha256:${'0'.repeat(64)}`], { env: { ...process.env, TELEPORT_HOME: tmpDir() } });
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toMatch(/^ERROR: the proxy at 127\.0\.0\.1:\d+ presented TLS key sha256:[0-9a-f]{64}, not the --fingerprint given/);
  });

  it('a second daemon with its own certificate at the pinned address is refused and receives no password', async () => {
    await real!.stop();
    real = undefined;
    impostor = await daemonAt(webPort, sshPort);
    const other = await pinOf(impostor);
    const env = { ...process.env, TELEPORT_HOME: home };

    const ls = await cli('tsh', ['recordings', 'ls'], { env });
    expect(ls.code).not.toBe(0);
    expect(ls.stderr).toMatch(/^ERROR: the proxy at 127\.0\.0\.1:\d+ presented a different TLS key than the one pinned at login \(pinned sha256:\w+, now sha256:\w+\): someone may be intercepting the connection; .*--fingerprint=/);
    expect(ls.stderr).toContain(other);

    // At a terminal too: no trust prompt, no password prompt, even with --insecure.
    const login = await TmuxSession.start(tshCommand(['login', `--proxy=127.0.0.1:${webPort}`, '--user=joe', '--insecure'], home));
    try {
      const { code, screen } = await login.exit();
      expect(code).toBe(1);
      expect(screen).toContain('presented a different TLS key than the one pinned at login');
      expect(screen).not.toContain('Enter password');
    } finally {
      await login.kill();
    }
    const events = JSON.parse((await impostor.tctl(['events', 'ls', '--type=user.login', '--format=json'])).stdout) as unknown[];
    expect(events).toEqual([]);
  });

  it('an older profile saved with insecure: true is refused, not silently trusted', async () => {
    const old = tmpDir('tollgate-oldprofile-');
    const p = JSON.parse(fs.readFileSync(path.join(home, '127.0.0.1.json'), 'utf8')) as Record<string, unknown>;
    delete p.tls_pin;
    fs.writeFileSync(path.join(old, '127.0.0.1.json'), JSON.stringify({ ...p, insecure: true }));
    fs.writeFileSync(path.join(old, 'current-profile'), '127.0.0.1\n');
    const ls = await cli('tsh', ['ls'], { env: { ...process.env, TELEPORT_HOME: old } });
    expect(ls.code).not.toBe(0);
    expect(ls.stderr).toMatch(/^ERROR: the profile for 127\.0\.0\.1:\d+ was saved with --insecure by an older tsh/);
  });
});

describe('a fake proxy cannot write tsh config (acceptance 2)', () => {
  let server: https.Server;
  let port: number;
  const seen: string[] = [];
  const work = tmpDir('tollgate-fake-');

  beforeAll(async () => {
    const key = path.join(work, 'key.pem');
    const cert = path.join(work, 'cert.pem');
    const r = await run('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-subj', '/CN=fake', '-days', '1', '-keyout', key, '-out', cert]);
    expect(r.code, r.stderr).toBe(0);
    server = https.createServer({ key: fs.readFileSync(key), cert: fs.readFileSync(cert) }, (req, res) => {
      seen.push(`${req.method} ${req.url}`);
      res.setHeader('content-type', 'application/json');
      res.end(
        JSON.stringify({
          cluster_name: 'example.test',
          server_version: '1.0.0',
          auth: { type: 'local', second_factor: 'off' },
          proxy: { ssh: { listen_addr: '127.0.0.1:3023', public_addr: 'x\n  ProxyCommand touch /tmp/pwned' } },
          host_ca: '@cert-authority * ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl',
        }),
      );
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as { port: number }).port;
  });
  afterAll(async () => {
    await new Promise((resolve) => server?.close(resolve));
  });

  it('tsh login refuses the ping answer before asking for a password', async () => {
    const home = tmpDir();
    const r = await cli('tsh', ['login', `--proxy=127.0.0.1:${port}`, '--user=joe', '--insecure'], { env: { ...process.env, TELEPORT_HOME: home } });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/public_addr.*not a host:port address/);
    expect(seen).toEqual(['GET /webapi/ping']);
    expect(fs.readdirSync(home)).toEqual([]);
  });

  it('tsh config refuses a profile whose fields could inject a line', async () => {
    const home = tmpDir();
    const profile = {
      name: '127.0.0.1',
      web_proxy_addr: `127.0.0.1:${port}`,
      ssh_proxy_addr: 'x\n  ProxyCommand touch /tmp/pwned',
      user: 'joe',
      cluster: 'example.test',
      logins: ['joe'],
      valid_before: new Date(Date.now() + 3_600_000).toISOString(),
      token: 't',
      key_file: path.join(home, 'k'),
      cert_file: path.join(home, 'k-cert.pub'),
      agent_socket: null,
      tls_pin: `sha256:${'1'.repeat(64)}`,
    };
    fs.writeFileSync(path.join(home, '127.0.0.1.json'), JSON.stringify(profile));
    fs.writeFileSync(path.join(home, 'current-profile'), '127.0.0.1\n');
    const r = await cli('tsh', ['config'], { env: { ...process.env, TELEPORT_HOME: home } });
    expect(r.code).not.toBe(0);
    expect(r.stdout).not.toMatch(/ProxyCommand/);
    expect(r.stderr).toMatch(/cannot go into an ssh config/);
  });
});
