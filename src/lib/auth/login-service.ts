import { sourceKey } from '../address.js';
import crypto from 'node:crypto';
import { certificateLine, parsePublicKeyLine } from '../ca/index.js';
import type { Clock } from '../clock.js';
import { formatDuration } from '../duration.js';
import { accessDenied, badParameter } from '../errors.js';
import type { Logger } from '../log.js';
import type { Store, UserRecord } from '../store/index.js';
import { USER_CERT_TTL_DEFAULT_MS, type AuthService } from './auth-service.js';
import { newOtpSecret, otpUri, verifyOtp } from './otp.js';
import { burnPasswordCheck, checkPasswordPolicy, hashPassword, verifyPassword } from './passwords.js';
import { AuditEvents } from '../audit/index.js';

import { AddressThrottle, LOGIN_FAILURE_WINDOW_MS, userLockMs } from './login-throttle.js';
import { hashToken } from './tokens.js';

/** What every refused login is told, whatever the reason (the audit log has the real one). */
const invalidCredentials = () => accessDenied('invalid credentials', 'check the user name, password and authenticator code');

export interface LoginServiceOptions {
  auth: AuthService;
  store: Store;
  clock: Clock;
  log: Logger;
  secondFactor: 'off' | 'otp';
  maxSessionTtlMs: number;
}

export interface SignupInfo {
  user: string;
  second_factor: 'off' | 'otp';
  expires_at: string;
  otp?: { secret: string; uri: string };
}

export interface Credentials {
  user: string;
  password: string;
  otp?: string;
  /** Client address, for the audit log. */
  addr: string;
}

export interface LoginCert {
  user: string;
  logins: string[];
  certificate: string;
  /** `@cert-authority * ssh-ed25519 ...` for the client's known_hosts. */
  hostCa: string;
  validBefore: Date;
  token: string;
  tokenExpiresAt: Date;
}


/**
 * Signup (password and second factor from a signup link), password login with throttling, login
 * certificates, and bearer tokens for the web API. Denials are audited with their real reason;
 * callers only ever see "invalid credentials".
 */
export class LoginService {
  constructor(private readonly o: LoginServiceOptions) {}

  get secondFactor(): 'off' | 'otp' {
    return this.o.secondFactor;
  }

  /** What the signup page shows: who the link is for and, with OTP on, the secret to enrol. */
  async signupInfo(token: string): Promise<SignupInfo> {
    const rec = await this.o.auth.checkSignupToken(token);
    const info: SignupInfo = { user: rec.user, second_factor: this.o.secondFactor, expires_at: new Date(rec.expiresAt).toISOString() };
    if (this.o.secondFactor === 'otp') {
      // One secret per link, stable across page reloads, so a scanned QR code stays valid.
      const secret = rec.otpSecret ?? (await this.o.store.setSignupOtpSecret(rec.tokenHash, await newOtpSecret()));
      if (!secret) throw badParameter('this signup link is not valid');
      info.otp = { secret, uri: await otpUri(secret, rec.user, `tollgate ${this.o.auth.clusterName}`) };
    }
    return info;
  }

  /** Sets the password (and OTP) and uses up the link, atomically: a link works exactly once. */
  async completeSignup(token: string, password: string, otpCode: string | undefined, addr: string): Promise<string> {
    const rec = await this.o.auth.checkSignupToken(token);
    checkPasswordPolicy(password);
    let otpSecret: string | null = null;
    if (this.o.secondFactor === 'otp') {
      if (!rec.otpSecret) throw badParameter('open the signup page first to get your authenticator code');
      if (!otpCode || (await verifyOtp(rec.otpSecret, otpCode.trim())) === null) {
        throw badParameter('the authenticator code is not valid', 'enter the 6-digit code your app shows now');
      }
      otpSecret = rec.otpSecret;
    }
    const hash = await hashPassword(password);
    const done = await this.o.store.completeSignup(rec.tokenHash, this.o.clock.now().getTime(), hash, otpSecret);
    if (!done) {
      // Lost a race with another redemption, or expired meanwhile: report why, change nothing.
      await this.o.auth.checkSignupToken(token);
      throw badParameter('this signup link has already been used');
    }
    await this.o.auth.audit(AuditEvents.userSignup, rec.user, { addr, second_factor: this.o.secondFactor });
    return rec.user;
  }

  /** Per source address (login-throttle.ts); per user is in the store. */
  private readonly addresses = new AddressThrottle();

  /** A checked attempt failed: audited, counted against the address and (a known user) the user, refused alike. */
  private async fail(user: string, reason: string, addr: string, known: UserRecord | undefined): Promise<never> {
    await this.o.auth.audit(AuditEvents.userLogin, user, { success: false, reason, addr, method: 'password' });
    const now = this.o.clock.now().getTime();
    // By source (an IPv6 /64 is one source), or one host would have endless addresses to try from.
    this.addresses.fail(sourceKey(addr), now);
    if (known) {
      const failures = await this.o.store.recordLoginFailure(user, now, reason, now - LOGIN_FAILURE_WINDOW_MS);
      const lockMs = userLockMs(failures);
      if (lockMs > 0) {
        await this.o.store.updateUser(user, { lockedUntil: now + lockMs });
        await this.o.auth.audit(AuditEvents.userLocked, user, { failures, until: new Date(now + lockMs).toISOString(), addr, scope: 'web login only' });
      }
    }
    throw invalidCredentials();
  }

  /** An attempt refused before any check (throttled address, locked user): audited, not counted again. */
  private async refuse(user: string, reason: string, addr: string): Promise<never> {
    await this.o.auth.audit(AuditEvents.userLogin, user, { success: false, reason, addr, method: 'password' });
    throw invalidCredentials();
  }

  private readonly inFlight = new Map<string, Promise<unknown>>();

  /**
   * Checks password and second factor; refuses throttled addresses and web-locked users; audits every outcome. Attempts for
   * one user run one at a time, so parallel guesses cannot all pass the lock check before any
   * failure is counted.
   */
  login(c: Credentials): Promise<UserRecord> {
    const previous = this.inFlight.get(c.user) ?? Promise.resolve();
    // The previous attempt's outcome belongs to its caller; this one only waits for it to settle.
    const next = () => this.loginNow(c);
    const mine = previous.then(next, next);
    this.inFlight.set(c.user, mine);
    const forget = () => {
      if (this.inFlight.get(c.user) === mine) this.inFlight.delete(c.user);
    };
    mine.then(forget, forget);
    return mine;
  }

  private async loginNow(c: Credentials): Promise<UserRecord> {
    const now = this.o.clock.now().getTime();
    if (!this.addresses.begin(sourceKey(c.addr), now)) {
      const until = this.addresses.blockedUntil(sourceKey(c.addr), now);
      return this.refuse(c.user, `too many failed logins from this address${until ? ` (until ${new Date(until).toISOString()})` : ''}`, c.addr);
    }
    try {
      return await this.checkCredentials(c, now);
    } finally {
      this.addresses.end(sourceKey(c.addr));
    }
  }

  private async checkCredentials(c: Credentials, now: number): Promise<UserRecord> {
    const user = await this.o.store.getUser(c.user);
    if (!user) {
      await burnPasswordCheck(c.password);
      return this.fail(c.user, 'unknown user', c.addr, undefined);
    }
    // Same answer as a wrong password: the lock does not tell a stranger the user exists.
    if (user.lockedUntil && user.lockedUntil > now) {
      // As slow as a real check: a fast refusal would tell a stranger that the user exists.
      await burnPasswordCheck(c.password);
      return this.refuse(c.user, 'user is locked', c.addr);
    }
    if (!user.passwordHash) {
      await burnPasswordCheck(c.password);
      return this.fail(c.user, 'signup not completed', c.addr, user);
    }
    if (!(await verifyPassword(user.passwordHash, c.password))) return this.fail(c.user, 'wrong password', c.addr, user);
    if (this.o.secondFactor === 'otp') {
      if (!user.otpSecret) return this.fail(c.user, 'no second factor enrolled', c.addr, user);
      const step = c.otp ? await verifyOtp(user.otpSecret, c.otp.trim()) : null;
      if (step === null) return this.fail(c.user, 'wrong OTP code', c.addr, user);
      if (!(await this.o.store.claimOtpStep(c.user, step))) return this.fail(c.user, 'OTP code already used', c.addr, user);
    }
    await this.o.store.clearLoginFailures(c.user);
    if (user.lockedUntil) await this.o.store.updateUser(c.user, { lockedUntil: null });
    await this.o.auth.audit(AuditEvents.userLogin, c.user, { success: true, addr: c.addr, method: 'password' });
    return user;
  }

  /** Login → user certificate for the client's public key, plus a bearer token of the same lifetime. */
  async issueLoginCert(c: Credentials & { publicKey: string; ttlMs?: number }): Promise<LoginCert> {
    parsePublicKeyLine(c.publicKey); // a malformed key fails before the password is checked (and counted)
    const requested = c.ttlMs ?? USER_CERT_TTL_DEFAULT_MS;
    if (!Number.isFinite(requested) || requested < 60_000) throw badParameter(`ttl ${formatDuration(requested)} is too short`, 'ask for at least 1m');
    const user = await this.login(c);
    const ttlMs = Math.min(requested, this.o.maxSessionTtlMs);
    const cert = await this.o.auth.signUserCert({ user: user.name, publicKey: c.publicKey, ttlMs }, `web:${c.addr}`);
    const validBefore = new Date(Number(cert.fields.validBefore) * 1000);
    const token = crypto.randomBytes(32).toString('hex');
    await this.o.store.createWebSession({ tokenHash: hashToken(token), user: user.name, createdAt: this.o.clock.now().getTime(), expiresAt: validBefore.getTime() });
    return {
      user: user.name,
      logins: user.logins,
      certificate: certificateLine(cert.blob, user.name),
      hostCa: this.o.auth.exportCA('host', 'known-hosts', '*'),
      validBefore,
      token,
      tokenExpiresAt: validBefore,
    };
  }

  /** A browser session after a password (and OTP) login: the same bearer token, kept in a cookie. */
  async startWebSession(user: string, ttlMs = 12 * 3_600_000): Promise<{ token: string; expiresAt: Date }> {
    const token = crypto.randomBytes(32).toString('hex');
    const now = this.o.clock.now().getTime();
    const expiresAt = now + Math.min(ttlMs, this.o.maxSessionTtlMs);
    await this.o.store.createWebSession({ tokenHash: hashToken(token), user, createdAt: now, expiresAt });
    return { token, expiresAt: new Date(expiresAt) };
  }

  /** The user a bearer token belongs to, if it is valid now and the user still exists. */
  async userForToken(token: string): Promise<UserRecord> {
    const s = await this.o.store.getWebSession(hashToken(token));
    const now = this.o.clock.now().getTime();
    if (!s || s.expiresAt <= now) throw accessDenied('your session has expired', 'log in again with tsh login');
    const user = await this.o.store.getUser(s.user);
    if (!user) throw accessDenied('your session has expired', 'log in again with tsh login');
    // A user lock (tctl lock --user) holds for the web API too: recordings, live views, terminals.
    const lock = (await this.o.store.listLocks(now)).find((l) => l.kind === 'user' && l.target === user.name);
    if (lock) throw accessDenied(`locked by an administrator${lock.message ? `: ${lock.message}` : ''}`, 'ask an administrator to remove the lock (tctl locks rm)');
    return user;
  }

  async endWebSession(token: string): Promise<void> {
    await this.o.store.deleteWebSession(hashToken(token));
  }
}
