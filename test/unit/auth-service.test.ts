import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { beforeEach, describe, expect, it } from 'vitest';
import { AuthService } from '../../src/lib/auth/auth-service.js';
import { generateEd25519, parseCertificate, publicKeyLine } from '../../src/lib/ca/index.js';
import { FakeClock } from '../../src/lib/clock.js';
import { nullLogger } from '../../src/lib/log.js';
import { createSqliteStore } from '../../src/lib/store/sqlite.js';
import type { Store } from '../../src/lib/store/types.js';

describe('AuthService', () => {
  let store: Store;
  let clock: FakeClock;
  let auth: AuthService;
  let dir: string;

  beforeEach(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tollgate-auth-'));
    store = await createSqliteStore(path.join(dir, 'tollgate.db'));
    await store.migrate();
    clock = new FakeClock(Date.UTC(2026, 5, 1));
    auth = new AuthService({
      store, clock, log: nullLogger, clusterName: 'example.test', publicWebAddr: { host: 'proxy.example.test', port: 3080 }, maxSessionTtlMs: 30 * 3_600_000, certSourceAddresses: [],
    });
    await auth.init();
  });

  it('creates a user with a signup URL; the token is stored hashed', async () => {
    const inv = await auth.createUser({ name: 'joe', logins: 'joe,root,ec2-user' });
    expect(inv.url).toBe(`https://proxy.example.test:3080/web/invite/${inv.token}`);
    expect(inv.token).toMatch(/^[0-9a-f]{64}$/);
    expect(inv.expiresAt.getTime() - clock.now().getTime()).toBe(3_600_000);
    // Neither the database nor its WAL holds the token itself, only its hash.
    for (const f of fs.readdirSync(dir)) expect(fs.readFileSync(path.join(dir, f)).includes(inv.token)).toBe(false);
    expect(await store.getSignupToken(inv.token)).toBeUndefined();
    expect((await auth.listUsers())[0]).toMatchObject({ name: 'joe', logins: ['joe', 'root', 'ec2-user'], roles: ['access'], status: 'pending' });
    expect((await auth.listEvents({ types: ['user.create'] }))[0]).toMatchObject({ user: 'joe' });
  });

  it('signup tokens: single use, expire, and reset replaces them', async () => {
    const inv = await auth.createUser({ name: 'joe', logins: ['joe'], ttlMs: 60_000 });
    expect((await auth.checkSignupToken(inv.token)).user).toBe('joe');
    expect((await auth.redeemSignupToken(inv.token)).user).toBe('joe');
    await expect(auth.redeemSignupToken(inv.token)).rejects.toThrow(/already been used/);
    const again = await auth.resetUser('joe', 60_000);
    clock.advance(60_001);
    await expect(auth.redeemSignupToken(again.token)).rejects.toThrow(/expired/);
    await expect(auth.redeemSignupToken('f'.repeat(64))).rejects.toThrow(/not valid/);
  });

  it('refuses bad names, logins, roles, TTLs and duplicates', async () => {
    await expect(auth.createUser({ name: '-joe', logins: 'joe' })).rejects.toThrow(/invalid user name/);
    await expect(auth.createUser({ name: 'joe smith', logins: 'joe' })).rejects.toThrow(/invalid user name/);
    await expect(auth.createUser({ name: 'joe', logins: '' })).rejects.toThrow(/no logins/);
    await expect(auth.createUser({ name: 'joe', logins: 'joe,,root' })).rejects.toThrow(/empty login/);
    await expect(auth.createUser({ name: 'joe', logins: 'jo e' })).rejects.toThrow(/invalid login/);
    await expect(auth.createUser({ name: 'joe', logins: 'joe', roles: 'admin' })).rejects.toThrow(/unknown role/);
    await expect(auth.createUser({ name: 'joe', logins: 'joe', ttlMs: 49 * 3_600_000 })).rejects.toThrow(/out of range/);
    await auth.createUser({ name: 'joe', logins: 'joe' });
    await expect(auth.createUser({ name: 'joe', logins: 'joe' })).rejects.toMatchObject({ kind: 'already-exists' });
    await expect(auth.deleteUser('nobody')).rejects.toMatchObject({ kind: 'not-found' });
  });

  it('user certificates: user must exist, TTL capped by max_session_ttl, cert.create audited', async () => {
    const key = generateEd25519();
    const pub = publicKeyLine(key.publicBlob);
    await expect(auth.signUserCert({ user: 'ghost', publicKey: pub })).rejects.toMatchObject({ kind: 'not-found' });
    await auth.createUser({ name: 'joe', logins: 'joe,root' });
    await expect(auth.signUserCert({ user: 'joe', publicKey: pub, ttlMs: 31 * 3_600_000 })).rejects.toThrow(/exceeds auth_service.max_session_ttl/);
    const cert = await auth.signUserCert({ user: 'joe', publicKey: pub });
    const c = parseCertificate(cert.blob);
    expect(c.principals).toEqual(['joe', 'root']);
    expect(Number(c.validBefore) * 1000 - clock.now().getTime()).toBe(12 * 3_600_000);
    const ev = (await auth.listEvents({ types: ['cert.create'] }))[0]!;
    expect(ev.fields).toMatchObject({ cert_type: 'user', key_id: 'joe', serial: c.serial.toString() });
  });

  it('session certificates: OpenSSH CA, one principal, key id names user and session, three minutes, pinned when asked, audited', async () => {
    const pinned = new AuthService({
      store, clock, log: nullLogger, clusterName: 'example.test', publicWebAddr: { host: 'proxy.example.test', port: 3080 }, maxSessionTtlMs: 30 * 3_600_000, certSourceAddresses: [],
      sessionCertSourceAddresses: ['10.0.0.7/32'],
    });
    await pinned.init();
    const c = await pinned.mintSessionCert({ user: 'joe', sessionId: 'sid-1', login: 'root', agentForwarding: false, portForwarding: false });
    const cert = parseCertificate(c.certBlob);
    expect(cert.signatureKey.equals(auth.ca('openssh').publicBlob)).toBe(true);
    expect(cert.signatureKey.equals(auth.ca('user').publicBlob)).toBe(false);
    expect(cert).toMatchObject({ type: 'user', keyId: 'user=joe session=sid-1', principals: ['root'], criticalOptions: { 'source-address': '10.0.0.7/32' }, extensions: { 'permit-pty': '' } });
    expect(Number(cert.validBefore - cert.validAfter)).toBe(180);
    expect(Number(cert.validAfter) * 1000).toBe(clock.now().getTime() - 60_000);
    const tunnel = parseCertificate((await auth.mintSessionCert({ user: 'joe', sessionId: 't', login: 'root', agentForwarding: true, portForwarding: true })).certBlob);
    expect(Object.keys(tunnel.extensions)).toEqual(['permit-agent-forwarding', 'permit-port-forwarding', 'permit-pty']);
    expect(tunnel.criticalOptions).toEqual({});
    const events = await store.listEvents({ types: ['cert.create'] });
    expect(events[0]).toMatchObject({ user: 'joe', fields: { cert_type: 'session', sid: 't', key_id: 'user=joe session=t', actor: 'proxy' } });
    expect((await store.listIssuedCerts()).filter((x) => x.type === 'session')).toHaveLength(2);
  });

  it('CAs persist: a second service over the same store exports the same lines', async () => {
    const other = new AuthService({
      store, clock, log: nullLogger, clusterName: 'example.test', publicWebAddr: { host: 'p', port: 3080 }, maxSessionTtlMs: 1e9, certSourceAddresses: [],
    });
    await other.init();
    expect(other.exportCA('user')).toBe(auth.exportCA('user'));
    expect(other.exportCA('host')).toBe(auth.exportCA('host'));
    expect(auth.exportCA('host')).toMatch(/^@cert-authority \*\.example\.test ssh-ed25519 /);
    expect(auth.exportCA('user', 'authorized-keys')).toBe(`cert-authority ${auth.exportCA('user')}`);
    expect(auth.exportCA('host', 'known-hosts', 'localhost')).toMatch(/^@cert-authority localhost ssh-ed25519 /);
  });
});

describe('LoginService', () => {
  const setup = async (secondFactor: 'off' | 'otp') => {
    const { LoginService } = await import('../../src/lib/auth/login-service.js');
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tollgate-login-'));
    const store = await createSqliteStore(path.join(dir, 'tollgate.db'));
    await store.migrate();
    const clock = new FakeClock(Date.now());
    const auth = new AuthService({ store, clock, log: nullLogger, clusterName: 'example.test', publicWebAddr: { host: 'p', port: 3080 }, maxSessionTtlMs: 30 * 3_600_000, certSourceAddresses: [] });
    await auth.init();
    const login = new LoginService({ auth, store, clock, log: nullLogger, secondFactor, maxSessionTtlMs: 30 * 3_600_000 });
    return { auth, login, store };
  };

  it('parallel wrong guesses cannot outrun the throttle', async () => {
    const { auth, login } = await setup('off');
    const inv = await auth.createUser({ name: 'joe', logins: 'joe' });
    await login.completeSignup(inv.token, 'the right password', undefined, '127.0.0.1');
    const results = await Promise.allSettled(Array.from({ length: 20 }, (_, i) => login.login({ user: 'joe', password: `guess ${i}`, addr: '127.0.0.1' })));
    expect(results.every((r) => r.status === 'rejected')).toBe(true);
    const failures = (await auth.listEvents({ types: ['user.login'], limit: 100 })).filter((e) => e.fields.reason === 'wrong password');
    expect(failures).toHaveLength(5); // the rest were refused as throttled without a password check
    // From that address even the right password waits, and is told only "invalid credentials".
    await expect(login.login({ user: 'joe', password: 'the right password', addr: '127.0.0.1' })).rejects.toThrow(/^invalid credentials$/);
    expect((await auth.listEvents({ types: ['user.login'], limit: 1 }))[0]!.fields.reason).toMatch(/^too many failed logins from this address/);
    // The user is not locked: from another address the right password works.
    await expect(login.login({ user: 'joe', password: 'the right password', addr: '127.0.0.2' })).resolves.toMatchObject({ name: 'joe' });
  });

  it('an OTP code cannot be used twice', async () => {
    const { auth, login } = await setup('otp');
    const { currentOtp } = await import('../../src/lib/auth/otp.js');
    const inv = await auth.createUser({ name: 'amy', logins: 'amy' });
    const info = await login.signupInfo(inv.token);
    await login.completeSignup(inv.token, 'amy has a long password', await currentOtp(info.otp!.secret), '127.0.0.1');
    const code = await currentOtp(info.otp!.secret);
    await login.login({ user: 'amy', password: 'amy has a long password', otp: code, addr: '127.0.0.1' });
    await expect(login.login({ user: 'amy', password: 'amy has a long password', otp: code, addr: '127.0.0.1' })).rejects.toThrow(/invalid credentials/);
    expect((await auth.listEvents({ types: ['user.login'], limit: 1 }))[0]!.fields.reason).toBe('OTP code already used');
  });
});
