import { labelsMatch } from '../../labels.js';
import type { NodeRecord, UserRecord } from '../../store/index.js';
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
  if (!who.cert.principals.includes(t.login)) {
    return {
      allowed: false,
      reason: `login ${t.login} not allowed`,
      line: `tollgate: ${who.user} may not log in as ${t.login} (allowed: ${who.cert.principals.join(', ')})`,
    };
  }
  const stale = staleness(who.user, who.cert.validBefore, facts);
  if (stale) return { allowed: false, reason: stale, line: `tollgate: ${stale}` };
  const node = facts.node;
  if (node) {
    if (!labelsMatch(facts.user!.nodeLabels, node.labels)) {
      return {
        allowed: false,
        reason: `node labels do not allow ${node.name}`,
        line: `tollgate: ${who.user} may not reach node ${node.name} (its labels do not match ${who.user}'s node labels; see tsh ls)`,
      };
    }
    return { allowed: true, target: { login: t.login, host: node.host, port: node.port }, node, nodeLabel: node.name };
  }
  if (facts.refuseUnregistered) return { allowed: false, reason: `${nodeName(t)} is not a registered node`, line: unregisteredNodeLine(nodeName(t)) };
  return { allowed: true, target: t, node: undefined, nodeLabel: nodeName(t) };
}

function staleness(user: string, validBefore: bigint, facts: AuthorizationFacts): string | undefined {
  const now = facts.now.getTime();
  if (!facts.user) return `user ${user} no longer exists`;
  if (facts.user.lockedUntil && facts.user.lockedUntil > now) return `user ${user} is locked`;
  if (BigInt(Math.floor(now / 1000)) >= validBefore) return 'your certificate has expired; run tsh login';
  return undefined;
}
