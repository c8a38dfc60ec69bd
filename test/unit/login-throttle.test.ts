import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AddressThrottle, LOGIN_FREE_FAILURES, USER_LOCK_AFTER, userLockMs } from '../../src/lib/auth/login-throttle.js';
import { LoginService } from '../../src/lib/auth/login-service.js';
import { hashPassword } from '../../src/lib/auth/passwords.js';
import { TollgateError } from '../../src/lib/errors.js';
import { nullLogger } from '../../src/lib/log.js';
import { authFixture, type AuthFixture } from '../helpers/auth-fixture.js';

describe('login throttling without lock-out by strangers', () => {
  let f: AuthFixture;
  let login: LoginService;
  beforeEach(async () => {
    f = await authFixture({ prefix: 'tollgate-throttle-' });
    login = new LoginService({ auth: f.auth, store: f.store, clock: f.clock, log: nullLogger, secondFactor: 'off', maxSessionTtlMs: 12 * 3_600_000 });
    await f.auth.createUser({ name: 'joe', logins: ['root'] });
    await f.store.updateUser('joe', { passwordHash: await hashPassword('the right password') });
  });
  afterEach(() => f.close());

  /** The error a login attempt ends with (message and hint), or 'ok'. */
  const attempt = async (password: string, addr: string, user = 'joe') => {
    try {
      await login.login({ user, password, addr });
      return 'ok';
    } catch (err) {
      const e = err as TollgateError;
      return `${e.kind}: ${e.message} (${e.hint})`;
    }
  };
  const GENERIC = 'access-denied: invalid credentials (check the user name, password and authenticator code)';

  it('twenty bad passwords from one address: every failure answers alike, joe logs in from another address, the address waits', async () => {
    const answers = new Set<string>();
    for (let i = 0; i < 20; i++) answers.add(await attempt(`wrong ${i}`, '10.0.0.66'));
    answers.add(await attempt('x', '10.0.0.66', 'nobody'));
    expect([...answers]).toEqual([GENERIC]);
    // Only the free failures reached the password check: the user is far from a web lock.
    expect((await f.store.getUser('joe'))!.lockedUntil).toBeNull();
    expect(await attempt('the right password', '10.0.0.7')).toBe('ok');
    // The stranger's address is throttled even with the right password, for a minute.
    expect(await attempt('the right password', '10.0.0.66')).toBe(GENERIC);
    f.clock.advance(60_000);
    expect(await attempt('the right password', '10.0.0.66')).toBe('ok');
    const reasons = (await f.store.listEvents({ types: ['user.login'], limit: 100 })).map((e) => e.fields.reason as string | undefined);
    expect(reasons.filter((r) => r === 'wrong password')).toHaveLength(LOGIN_FREE_FAILURES);
    expect(reasons.filter((r) => r?.startsWith('too many failed logins from this address'))).toHaveLength(17); // 15 for joe, 1 for nobody, 1 with the right password
  });

  it('failures spread over many addresses lock the web login with growing delays; tctl users unlock clears it and keeps the password', async () => {
    for (let i = 0; i < USER_LOCK_AFTER; i++) expect(await attempt('wrong', `10.0.1.${i}`)).toBe(GENERIC);
    const locked = (await f.store.getUser('joe'))!;
    expect(locked.lockedUntil).toBe(f.clock.now().getTime() + 60_000);
    // Locked: the right password from a fresh address gets the same answer as a wrong one.
    expect(await attempt('the right password', '10.0.2.1')).toBe(GENERIC);
    expect((await f.store.listEvents({ types: ['user.login'], limit: 1 }))[0]!.fields.reason).toBe('user is locked');
    await f.auth.unlockUser('joe', 'tctl');
    expect(await attempt('the right password', '10.0.2.1')).toBe('ok');
    expect((await f.store.getUser('joe'))!.passwordHash).not.toBeNull();
    expect(userLockMs(USER_LOCK_AFTER - 1)).toBe(0);
    expect([USER_LOCK_AFTER, USER_LOCK_AFTER + 1, USER_LOCK_AFTER + 2, USER_LOCK_AFTER + 20].map(userLockMs)).toEqual([60_000, 120_000, 240_000, 30 * 60_000]);
  });

  it('an address guessing many users at once gets no more checked guesses than one at a time', async () => {
    for (const u of ['amy', 'bob', 'cat', 'dan', 'eve', 'fay', 'gus', 'hal']) await f.auth.createUser({ name: u, logins: [u] });
    const answers = await Promise.all(['joe', 'amy', 'bob', 'cat', 'dan', 'eve', 'fay', 'gus', 'hal', 'nobody'].map((u) => attempt('guess', '10.0.3.1', u)));
    expect(new Set(answers)).toEqual(new Set([GENERIC]));
    const reasons = (await f.store.listEvents({ types: ['user.login'], limit: 100 })).map((e) => e.fields.reason as string);
    expect(reasons.filter((r) => !r.startsWith('too many failed logins')).length).toBeLessThanOrEqual(LOGIN_FREE_FAILURES);
    // A successful address is not remembered.
    const t = new AddressThrottle();
    expect(t.begin('10.0.9.9', 0)).toBe(true);
    t.end('10.0.9.9');
    expect(t.size).toBe(0);
  });

  it('the address table is bounded: the quietest addresses are forgotten first', () => {
    const t = new AddressThrottle();
    for (let i = 0; i < 10_050; i++) t.fail(`a${i}`, 0);
    expect(t.size).toBe(10_000);
    for (let i = 0; i < LOGIN_FREE_FAILURES; i++) t.fail('busy', 1);
    expect(t.blockedUntil('busy', 2)).toBe(1 + 60_000);
    expect(t.blockedUntil('a0', 2)).toBe(0);
  });
});
