import type { LockRecord } from '../../store/index.js';

/** What a lock can name about a session: its user, login, node (as the index names it) and id. */
export interface LockSubject {
  user: string;
  login: string;
  /** A registered node's name, or `host:port` for a legacy node (nodeName). */
  node: string;
  /** Unknown (undefined) before the session has an id. */
  sessionId?: string;
}

/** Whether `--node=N` names this node: a registered node by name, a legacy one by host or host:port. */
function nodeMatches(target: string, node: string): boolean {
  // DNS names are case-insensitive and may end in a dot; IPv6 may come in brackets: a lock on
  // `db.example.com` also holds for `DB.example.com.` and `[db.example.com]:22`.
  const norm = (h: string) => h.toLowerCase().replace(/^\[(.*)\]$/, '$1').replace(/\.$/, '');
  const t = norm(target);
  if (t === norm(node)) return true;
  const colon = node.lastIndexOf(':');
  if (colon <= 0) return false;
  const host = norm(node.slice(0, colon));
  return host === t || `${host}:${node.slice(colon + 1)}` === t;
}

/** The first lock in force that names this session, if any (locks as listed at `now` by the store). */
export function matchingLock(locks: readonly LockRecord[], s: LockSubject, now: number): LockRecord | undefined {
  return locks.find((l) => {
    if (l.expiresAt !== null && l.expiresAt <= now) return false;
    switch (l.kind) {
      case 'user':
        return l.target === s.user;
      case 'login':
        return l.target === s.login;
      case 'node':
        return nodeMatches(l.target, s.node);
      case 'session':
        return s.sessionId !== undefined && l.target === s.sessionId;
    }
  });
}

/** The line a client sees when a lock refuses or ends its session (Teleport's wording, with the lock's message). */
export function lockedLine(lock: LockRecord): string {
  return `tollgate: access denied: locked by an administrator${lock.message ? `: ${lock.message}` : ''}`;
}

/** The audit reason for a session a lock refused or ended. */
export function lockedReason(lock: LockRecord): string {
  return `lock ${lock.id} (${lock.kind}=${lock.target})${lock.message ? `: ${lock.message}` : ''}`;
}
