import type * as Ssh2 from 'ssh2';
import { AuditEvents, type Auditor } from '../audit/index.js';
import type { Clock } from '../clock.js';
import { verifyUserCertAuth } from '../ssh/index.js';
import type { UserRecord } from '../store/index.js';
import type { Identity } from './session/plan.js';

/** Failed authentication attempts allowed per connection (OpenSSH's MaxAuthTries is 6). */
export const MAX_AUTH_TRIES = 6;

/** Which SSH layer is authenticating: the connection to the proxy, or the node connection nested in it (`ssh -J`). */
export type AuthMode = { kind: 'outer' } | { kind: 'inner'; outerUser: string };

/** Authentication attempts so far on one connection. */
export interface AuthGuard {
  failures: number;
  nones: number;
  /** Ends the connection once it has used up its attempts. */
  end(): void;
}

export interface AuthenticatorOptions {
  userCaBlob(): Buffer;
  lookupUser(name: string): Promise<UserRecord | undefined>;
  clock: Clock;
  auditor: Auditor;
  /** Where failures are audited (the proxy aggregates a flood per source); each is written at once without it. */
  reportFailure?: (f: { user: string; reason: string; method: string; addr: string; hop: string }) => void;
}

export type Authenticate = (ctx: Ssh2.AuthContext, addr: string, mode: AuthMode, onIdentity: (id: Identity, username: string) => void, guard: AuthGuard) => void;

/**
 * The proxy's authentication policy, shared by outer and inner connections: a user certificate
 * from the user CA, valid now, with a good signature, naming the requested user or login, for a
 * user that still exists. Every failure is counted and audited (`auth`, aggregated per source by the caller's tally).
 */
export function createAuthenticator(o: AuthenticatorOptions): Authenticate {
  return (ctx, addr, mode, onIdentity, guard) => {
    // Past the limit (a client may have pipelined more requests): no more work, no more audit events.
    if (guard.failures >= MAX_AUTH_TRIES) return ctx.reject();
    // As OpenSSH: the first "none" (a client asking which methods exist) is free, later ones count.
    if (ctx.method === 'none') {
      ctx.reject(['publickey']);
      if (guard.nones++ > 0 && ++guard.failures >= MAX_AUTH_TRIES) guard.end();
      return;
    }
    const fail = (reason: string) => {
      if (o.reportFailure) o.reportFailure({ user: ctx.username, reason, method: ctx.method, addr, hop: mode.kind });
      else o.auditor.emit(AuditEvents.auth, ctx.username, { reason, method: ctx.method, addr, hop: mode.kind });
      ctx.reject(['publickey']);
      if (++guard.failures >= MAX_AUTH_TRIES) guard.end();
    };
    if (ctx.method !== 'publickey') return fail(`${ctx.method} authentication is not accepted`);
    const r = verifyUserCertAuth(ctx as Ssh2.PublicKeyAuthContext, { userCaBlob: o.userCaBlob(), now: o.clock.now() });
    if (!r.ok) return fail(r.reason);
    const cert = r.cert;
    // Outer: the SSH user is the tollgate user or one of its logins. Inner: the login must be allowed.
    if (mode.kind === 'outer' ? ctx.username !== cert.keyId && !cert.principals.includes(ctx.username) : !cert.principals.includes(ctx.username)) {
      return fail(`certificate does not allow "${ctx.username}"`);
    }
    if (mode.kind === 'inner' && cert.keyId !== mode.outerUser) return fail(`inner certificate is for ${cert.keyId}, the connection for ${mode.outerUser}`);
    void o
      .lookupUser(cert.keyId)
      .then((user) => {
        // A web lockout (lockedUntil: bad passwords) is not checked: it must never block a valid
        // certificate, or strangers could lock a user out of SSH. Locks and revocation are checked
        // for every session, forward and join (session/authorize.ts), where the client can be
        // told why in a line ("run tsh login"); a connection alone reaches nothing.
        if (!user) return fail(`user ${cert.keyId} does not exist`);
        if (r.needsSignature) return ctx.accept();
        onIdentity({ user: cert.keyId, cert, clientAddr: addr }, ctx.username);
        ctx.accept();
      })
      // A store error, or ssh2 throwing on a connection that closed meanwhile: never unhandled.
      .catch((err: Error) => {
        try {
          fail(`authentication error: ${err.message}`);
        } catch {
          // the connection is gone; nothing is left to refuse
        }
      });
  };
}
