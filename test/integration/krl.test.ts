import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LockService } from '../../src/lib/auth/locks.js';
import { certificateLine } from '../../src/lib/ca/index.js';
import { authFixture, type AuthFixture } from '../helpers/auth-fixture.js';
import { run } from '../helpers/proc.js';
import { sshBaseArgs, startSshd, type TestSshd } from '../helpers/sshd.js';

/*
 * Revocation for legacy nodes (issue 16, acceptance 3): the KRL tollgate writes is read by
 * OpenSSH itself: `ssh-keygen -Q` and a real sshd with RevokedKeys refuse what it lists.
 */
describe('tctl auth export --type=krl: an OpenSSH KRL of locked and revoked user certificates', () => {
  let f: AuthFixture;
  let locks: LockService;
  let sshd: TestSshd;
  const krlFile = () => path.join(f.dir, 'revoked.krl');
  const keys: Record<string, { key: string; cert: string }> = {};

  const issue = async (user: string, tag: string) => {
    const key = path.join(f.dir, `${user}-${tag}`);
    await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', key]);
    const cert = await f.auth.signUserCert({ user, publicKey: fs.readFileSync(`${key}.pub`, 'utf8'), ttlMs: 3_600_000 });
    fs.writeFileSync(`${key}-cert.pub`, `${certificateLine(cert.blob, user)}\n`);
    keys[`${user}-${tag}`] = { key, cert: `${key}-cert.pub` };
  };
  const writeKrl = async () => fs.writeFileSync(krlFile(), (await locks.exportKrl()).krl);
  /** ssh-keygen -Q: exit 0 when the certificate is not revoked, 1 (and "REVOKED") when it is. */
  const queried = async (name: string) => {
    const r = await run('ssh-keygen', ['-Q', '-f', krlFile(), keys[name]!.cert]);
    return { revoked: r.code !== 0 && /REVOKED/.test(r.stdout + r.stderr), out: r.stdout + r.stderr };
  };
  const sshAs = (name: string) => run('ssh', [...sshBaseArgs(sshd.port), '-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null', '-i', keys[name]!.key, '-o', `CertificateFile=${keys[name]!.cert}`, 'root@127.0.0.1', 'echo in'], { timeoutMs: 15_000 });

  beforeAll(async () => {
    // sshd checks validity against the real clock.
    f = await authFixture({ prefix: 'tollgate-krl-', now: Date.now() });
    locks = new LockService({ auth: f.auth, store: f.store, clock: f.clock });
    await f.auth.createUser({ name: 'joe', logins: ['root'] });
    await f.auth.createUser({ name: 'amy', logins: ['root', 'amy'] });
    await f.auth.createUser({ name: 'bob', logins: ['root'] });
    for (const u of ['joe', 'amy', 'bob']) await issue(u, 'old');
    await writeKrl();
    sshd = await startSshd({ trustedUserCaKeys: `${f.auth.exportCA('user', 'openssh')}\n`, extraConfig: [`RevokedKeys ${krlFile()}`] });
  }, 60_000);
  afterAll(async () => {
    await sshd?.stop();
    await f?.close();
  });

  it('an empty KRL parses and revokes nothing; sshd lets every certificate in', async () => {
    expect((await queried('joe-old')).revoked).toBe(false);
    const r = await sshAs('joe-old');
    expect(r.stdout.trim(), r.stderr).toBe('in');
  });

  it('a locked user (by key id), a reset user (old certificate by serial) and a deleted one are refused; a new certificate after the reset is not', async () => {
    const lock = await locks.create({ kind: 'user', target: 'joe', message: 'incident 42' }, 'test');
    f.clock.advance(1000);
    await f.auth.resetUser('amy');
    f.clock.advance(1000);
    await issue('amy', 'new');
    await f.auth.deleteUser('bob');
    await writeKrl();
    const listing = await run('ssh-keygen', ['-Q', '-l', '-f', krlFile()]);
    expect(listing.stdout + listing.stderr).toContain('joe');
    for (const name of ['joe-old', 'amy-old', 'bob-old']) expect((await queried(name)).revoked, name).toBe(true);
    expect((await queried('amy-new')).revoked).toBe(false);

    // sshd re-reads RevokedKeys at each authentication.
    const refused = await sshAs('joe-old');
    expect(refused.code).not.toBe(0);
    expect(refused.stdout).not.toContain('in');
    expect((await sshAs('amy-old')).code).not.toBe(0);
    expect((await sshAs('amy-new')).stdout.trim()).toBe('in');

    // Removing the lock and exporting again lets joe's certificate back in.
    await locks.remove(lock.id, 'test');
    await writeKrl();
    expect((await sshAs('joe-old')).stdout.trim()).toBe('in');
  }, 60_000);

  it('a login lock revokes, by serial, the unexpired certificates that name that login', async () => {
    const lock = await locks.create({ kind: 'login', target: 'amy' }, 'test');
    await writeKrl();
    expect((await queried('amy-new')).revoked).toBe(true);
    const joe = await queried('joe-old');
    expect(joe.revoked, joe.out).toBe(false);
    await locks.remove(lock.id, 'test');
  });
});
