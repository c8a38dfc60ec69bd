import { defaultKeysFile } from '../../src/lib/config/index.js';
import fs from 'node:fs';
import path from 'node:path';
import { fileKeySource, unsealPrivateKey } from '../../src/lib/auth/sealed-keys.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CertAuthority } from '../../src/lib/ca/cert-authority.js';
import { certificateLine } from '../../src/lib/ca/certificate.js';
import { generateEd25519, privateKeyToOpenSSH } from '../../src/lib/ca/keys.js';
import { createSqliteStore } from '../../src/lib/store/sqlite.js';
import { startDaemon, type TestDaemon } from '../helpers/daemon.js';
import { run, tmpDir } from '../helpers/proc.js';
import { sshBaseArgs, startSshd, type TestSshd } from '../helpers/sshd.js';

/*
 * Acceptance 2-4 of "Auth service, embedded CA and tctl": a real sshd trusts exactly what
 * `tctl auth export` prints, and real ssh clients accept what `tctl auth sign` writes.
 */
describe('OpenSSH trusts the tollgate CAs', () => {
  let daemon: TestDaemon;
  let sshd: TestSshd;
  let work: string;
  let userCa: CertAuthority;

  /** Writes key + cert files issued by `ca` directly (ca/ library), for negative cases. */
  async function libraryCert(ca: CertAuthority, logins: string[], now: Date, ttlMs: number, name: string) {
    const key = generateEd25519();
    const cert = ca.issueUserCert({ publicKey: key.publicBlob, user: 'joe', logins, ttlMs }, now);
    const file = path.join(work, name);
    fs.writeFileSync(file, await privateKeyToOpenSSH(key.privateKey, 'joe'), { mode: 0o600 });
    fs.writeFileSync(`${file}-cert.pub`, `${certificateLine(cert.blob)}\n`);
    return file;
  }

  function ssh(key: string, login: string, extra: string[] = []) {
    return run('ssh', [
      ...sshBaseArgs(sshd.port),
      '-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null',
      '-o', 'IdentitiesOnly=yes', '-i', key, '-o', `CertificateFile=${key}-cert.pub`,
      ...extra, `${login}@127.0.0.1`, 'echo logged-in-as-$(id -un)',
    ]);
  }

  beforeAll(async () => {
    work = tmpDir('tollgate-openssh-');
    daemon = await startDaemon();
    const add = await daemon.tctl(['users', 'add', 'joe', 'joe,root']);
    expect(add.code, add.stderr).toBe(0);
    const exported = await daemon.tctl(['auth', 'export', '--type=user']);
    expect(exported.code, exported.stderr).toBe(0);
    // The exact stdout, unedited, is what the administrator pastes into TrustedUserCAKeys.
    sshd = await startSshd({ trustedUserCaKeys: exported.stdout });
    const store = await createSqliteStore(path.join(daemon.dataDir, 'tollgate.db'));
    const rec = (await store.getCertAuthority('user'))!;
    userCa = CertAuthority.fromPem('user', unsealPrivateKey(fileKeySource(defaultKeysFile(daemon.dataDir)).read()!, 'user', rec.privateKeyPem, 'the key file'), Buffer.from(rec.publicKey, 'base64'));
    await store.close();
  });

  afterAll(async () => {
    await sshd?.stop();
    await daemon?.stop();
    fs.rmSync(work, { recursive: true, force: true });
  });

  it('exports the user CA as one bare ssh-ed25519 line', async () => {
    const r = await daemon.tctl(['auth', 'export', '--type=user']);
    expect(r.stdout).toMatch(/^ssh-ed25519 AAAA[A-Za-z0-9+/=]+\n$/);
    const ak = await daemon.tctl(['auth', 'export', '--type=user', '--format=authorized-keys']);
    expect(ak.stdout).toBe(`cert-authority ${r.stdout}`);
  });

  it('logs in as root with a certificate from tctl auth sign --user', async () => {
    const key = path.join(work, 'joe');
    const sign = await daemon.tctl(['auth', 'sign', '--user=joe', '--format=openssh', '-o', key, '--ttl=1h']);
    expect(sign.code, sign.stderr).toBe(0);
    expect(fs.statSync(key).mode & 0o777).toBe(0o600);
    const r = await ssh(key, 'root');
    expect(r.stderr).toBe('');
    expect(r.stdout.trim()).toBe('logged-in-as-root');
  });

  it('logs in with a certificate issued by the ca/ library', async () => {
    const key = await libraryCert(userCa, ['joe', 'root'], new Date(), 3_600_000, 'lib');
    const r = await ssh(key, 'root');
    expect(r.stdout.trim()).toBe('logged-in-as-root');
  });

  it('refuses logins that are not principals', async () => {
    const key = await libraryCert(userCa, ['joe', 'root'], new Date(), 3_600_000, 'lib2');
    const r = await ssh(key, 'ec2-user');
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/Permission denied/);
    // `daemon` exists on every Debian system, so this refusal is the principal check, not a missing user.
    const d = await ssh(key, 'daemon');
    expect(d.code).not.toBe(0);
    expect(d.stderr).toMatch(/Permission denied/);
  });

  it('refuses an expired certificate', async () => {
    const key = await libraryCert(userCa, ['root'], new Date(Date.now() - 3 * 3_600_000), 3_600_000, 'expired');
    const r = await ssh(key, 'root');
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/Permission denied/);
  });

  it('refuses a certificate signed by another CA', async () => {
    const key = await libraryCert(CertAuthority.generate('user'), ['root'], new Date(), 3_600_000, 'otherca');
    const r = await ssh(key, 'root');
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/Permission denied/);
  });

  it('ssh-keygen -L shows key id, principals, validity and extensions', async () => {
    const key = path.join(work, 'joe-l');
    await daemon.tctl(['auth', 'sign', '--user=joe', '--format=openssh', '-o', key, '--ttl=2h']);
    const r = await run('ssh-keygen', ['-L', '-f', `${key}-cert.pub`]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/Type: ssh-ed25519-cert-v01@openssh.com user certificate/);
    expect(r.stdout).toMatch(/Key ID: "joe"/);
    expect(r.stdout).toMatch(/Principals:\s*\n\s+joe\n\s+root\n/);
    expect(r.stdout).toMatch(/Valid: from \d{4}-\d\d-\d\dT[\d:]+ to \d{4}-\d\d-\d\dT[\d:]+/);
    expect(r.stdout).toMatch(/Critical Options: \(none\)/);
    for (const ext of ['permit-agent-forwarding', 'permit-port-forwarding', 'permit-pty']) expect(r.stdout).toContain(ext);
    const m = /Valid: from (\S+) to (\S+)/.exec(r.stdout)!;
    const hours = (Date.parse(m[2]!) - Date.parse(m[1]!)) / 3_600_000;
    expect(hours).toBeGreaterThan(1.9); // 2h plus the one-minute backdating
    expect(hours).toBeLessThan(2.1);
  });

  it('a host certificate from tctl auth sign --host passes StrictHostKeyChecking with only the exported host CA', async () => {
    const hostKey = path.join(work, 'node');
    const sign = await daemon.tctl(['auth', 'sign', '--host=localhost,node1.example.test', '--format=openssh', '-o', hostKey]);
    expect(sign.code, sign.stderr).toBe(0);
    expect(fs.statSync(hostKey).mode & 0o777).toBe(0o600);
    const exported = await daemon.tctl(['auth', 'export', '--type=user']);
    const node = await startSshd({ trustedUserCaKeys: exported.stdout, hostKey, hostCertificate: `${hostKey}-cert.pub` });
    try {
      const userKey = path.join(work, 'joe-h');
      await daemon.tctl(['auth', 'sign', '--user=joe', '--format=openssh', '-o', userKey]);
      const connect = (knownHosts: string, host: string, extra: string[] = []) => {
        const kh = path.join(work, `kh-${Math.random().toString(36).slice(2)}`);
        fs.writeFileSync(kh, knownHosts);
        return run('ssh', [
          ...sshBaseArgs(node.port), '-o', 'StrictHostKeyChecking=yes', '-o', `UserKnownHostsFile=${kh}`, '-o', 'GlobalKnownHostsFile=/dev/null',
          '-o', 'IdentitiesOnly=yes', '-i', userKey, '-o', `CertificateFile=${userKey}-cert.pub`, ...extra, `root@${host}`, 'echo host-ok',
        ]);
      };
      // The default export line (@cert-authority *.example.test), used for a name under the cluster domain.
      const hostLine = await daemon.tctl(['auth', 'export', '--type=host']);
      expect(hostLine.stdout).toMatch(/^@cert-authority \*\.example\.test ssh-ed25519 AAAA\S+\n$/);
      const viaDomain = await connect(hostLine.stdout, '127.0.0.1', ['-o', 'HostKeyAlias=node1.example.test']);
      expect(viaDomain.stderr).toBe('');
      expect(viaDomain.stdout.trim()).toBe('host-ok');
      // The same line with the host pattern adjusted for "localhost".
      const local = await daemon.tctl(['auth', 'export', '--type=host', '--host-pattern=localhost']);
      const viaLocalhost = await connect(local.stdout, 'localhost');
      expect(viaLocalhost.stdout.trim()).toBe('host-ok');
      // Control: a known_hosts naming another CA makes the same connection fail.
      const other = `@cert-authority localhost ${CertAuthority.generate('host').publicKeyLine()}\n`;
      const refused = await connect(other, 'localhost');
      expect(refused.code).not.toBe(0);
      expect(refused.stderr).toMatch(/Host key verification failed|No ED25519 host key is known/);
    } finally {
      await node.stop();
    }
  });

  it('issued certificates appear as cert.create audit events', async () => {
    const r = await daemon.tctl(['events', 'ls', '--type=cert.create', '--format=json']);
    const events = JSON.parse(r.stdout) as Array<{ event: string; cert_type: string; key_id: string }>;
    expect(events.some((e) => e.cert_type === 'user' && e.key_id === 'joe')).toBe(true);
    expect(events.some((e) => e.cert_type === 'host' && e.key_id === 'localhost')).toBe(true);
  });
});

