import { CLOCK_SKEW_MS } from '../../ca/index.js';
import { labelsMatch } from '../../labels.js';
import type { LockRecord, NodeRecord, UserRecord } from '../../store/index.js';
import { lockedLine, lockedReason, matchingLock } from './lock-match.js';
import { NEEDS_AGENT, NO_TARGET, unregisteredNodeLine } from '../../proxy-protocol.js';
import { nodeName, type Identity, type SessionPlan, type Target } from './plan.js';

/** What authorization knows besides the plan: the user as the store has them now, and the time. */
export interface AuthorizationFacts {
  /** Undefined when the user no longer exists. */
  user: UserRecord | undefined;
  now: Date;
  /** The registered node the target names (agentless), or undefined (legacy). */
  node?: NodeRecord | undefined;
  /** proxy_service.allow_unregistered_nodes: no (Teleport's behaviour since v14). */
  refuseUnregistered?: boolean;
  /**
   * When the presented certificate was issued (issued_certs.created_at, epoch ms), or undefined
   * when the store has no record of it: then the latest time its validity start allows stands in.
   */
  certIssuedAt?: number | undefined;
  /** Locks in force now (tctl lock). */
  locks?: readonly LockRecord[];
}

export type Authorization =
  | {
      allowed: true;
      /** Where to dial, as whom: a registered node's own address, else the target as named. */
      target: Target;
      /** The registered node (agentless: a per-session certificate), or undefined (legacy: the borrowed agent). */
      node: NodeRecord | undefined;
      /** How the session index and the audit log name the node. */
      nodeLabel: string;
    }
  | {
      allowed: false;
      /** For the audit event and the log. */
      reason: string;
      /** The line the client sees on stderr. */
      line: string;
    };

/**
 * Whether a planned session may start: a pure function, so every rule is tested without SSH.
 * A connection can outlive the user's deletion, a lock and its own certificate, so those are
 * checked again for every session, not only at authentication.
 */
export function authorizeSession(plan: SessionPlan, facts: AuthorizationFacts): Authorization {
  const t = plan.target;
  if (!t) return { allowed: false, reason: 'no target named', line: NO_TARGET };
  const login = authorizeLogin(plan.identity, t, facts);
  if (!login.allowed) return login;
  // Agentless nodes never need the client's agent; only the legacy path borrows it.
  if (!login.node && !plan.agentRequested) return { allowed: false, reason: 'no agent forwarding', line: NEEDS_AGENT };
  return login;
}

/**
 * Whether an inner connection may open a tunnel (`-L`, `-D`, `-R`) to its node: the rules of a
 * session's login (principal, user still there and not locked, certificate still valid), checked
 * for every forward. Agent forwarding is proven by the upstream dial itself: `ssh -N` opens no
 * session channel, so there is no auth-agent request to look for.
 */
export function authorizeTunnel(who: Identity, t: Target, facts: AuthorizationFacts): Authorization {
  return authorizeLogin(who, t, facts);
}

function authorizeLogin(who: Identity, t: Target, facts: AuthorizationFacts): Authorization {
  const stale = staleness(who, facts);
  if (stale) return { allowed: false, reason: stale, line: `tollgate: ${stale}` };
  const user = facts.user!;
  // The certificate's principals are what the user could log in as when it was issued; the
  // user's logins now are what they may: a login removed since (tctl users update, or a user
  // re-created with fewer logins) is refused however long the certificate has left.
  if (!who.cert.principals.includes(t.login) || !user.logins.includes(t.login)) {
    const allowed = who.cert.principals.filter((p) => user.logins.includes(p));
    return {
      allowed: false,
      reason: `login ${t.login} not allowed`,
      line: `tollgate: ${who.user} may not log in as ${t.login} (allowed: ${allowed.join(', ') || 'none'})`,
    };
  }
  const node = facts.node;
  const nodeLabel = node ? node.name : nodeName(t);
  const lock = matchingLock(facts.locks ?? [], { user: who.user, login: t.login, node: nodeLabel }, facts.now.getTime());
  if (lock) return { allowed: false, reason: `locked: ${lockedReason(lock)}`, line: lockedLine(lock) };
  if (node) {
    if (!labelsMatch(user.nodeLabels, node.labels)) {
      return {
        allowed: false,
        reason: `node labels do not allow ${node.name}`,
        line: `tollgate: ${who.user} may not reach node ${node.name} (its labels do not match ${who.user}'s node labels; see tsh ls)`,
      };
    }
    return { allowed: true, target: { login: t.login, host: node.host, port: node.port }, node, nodeLabel };
  }
  if (facts.refuseUnregistered) return { allowed: false, reason: `${nodeLabel} is not a registered node`, line: unregisteredNodeLine(nodeLabel) };
  return { allowed: true, target: t, node: undefined, nodeLabel };
}

/**
 * Whether the certificate still speaks for its user, before any target is known (a connection, a
 * `tsh join`): not revoked by a reset or re-creation, not expired, and the user not locked.
 */
export function identityRefusal(who: Identity, facts: Pick<AuthorizationFacts, 'user' | 'now' | 'certIssuedAt' | 'locks'>): { reason: string; line: string } | undefined {
  const stale = staleness(who, facts);
  if (stale) return { reason: stale, line: `tollgate: ${stale}` };
  const lock = (facts.locks ?? []).find((l) => l.kind === 'user' && l.target === who.user && (l.expiresAt === null || l.expiresAt > facts.now.getTime()));
  if (lock) return { reason: `locked: ${lockedReason(lock)}`, line: lockedLine(lock) };
  return undefined;
}

/**
 * Why the certificate no longer speaks for its user, if it does not: the user is gone, the
 * certificate predates the user (deleted and re-created under the same name) or their last
 * credentials reset, or it has expired. A web lockout (too many bad passwords) is deliberately
 * not here: it never blocks a valid certificate, so strangers cannot lock a user out of SSH.
 */
function staleness(who: Identity, facts: Pick<AuthorizationFacts, 'user' | 'now' | 'certIssuedAt'>): string | undefined {
  const now = facts.now.getTime();
  const u = facts.user;
  if (!u) return `user ${who.user} no longer exists`;
  // Without a record: the CA backdates validAfter by CLOCK_SKEW_MS, rounded down to the second,
  // so the latest the certificate can have been issued is that plus the skew and a second.
  const issuedAt = facts.certIssuedAt ?? Number(who.cert.validAfter) * 1000 + CLOCK_SKEW_MS + 999;
  if (issuedAt < u.createdAt) return `your certificate was issued before user ${who.user} was created; run tsh login`;
  if (u.credentialsResetAt != null && issuedAt < u.credentialsResetAt) return `your certificate was issued before ${who.user}'s credentials were reset; run tsh login`;
  if (BigInt(Math.floor(now / 1000)) >= who.cert.validBefore) return 'your certificate has expired; run tsh login';
  return undefined;
}
