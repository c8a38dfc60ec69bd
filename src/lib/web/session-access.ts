import type { AuthService } from '../auth/index.js';
import { accessDenied, notFound } from '../errors.js';
import type { SessionRecord, Store, UserRecord } from '../store/index.js';
import { isUuid } from '../ids.js';
import { AuditEvents } from '../audit/index.js';

export interface SessionAccess {
  /** May see everyone's sessions (the `auditor` role); others see their own. */
  isAuditor(user: UserRecord): boolean;
  /**
   * The session `id` if `user` may see it. not-found when there is no such session; access-denied,
   * written to the audit log as `session.access_denied`, when it is someone else's.
   */
  visibleSession(user: UserRecord, id: string, addr: string): Promise<SessionRecord>;
  /** Refuses `user` a listing of `owner`'s sessions unless allowed (audited like visibleSession). */
  checkListing(user: UserRecord, owner: string | undefined, addr: string): Promise<void>;
  /**
   * The owner and start filter a listing or search of `user` runs with: an auditor's as asked,
   * anyone else's their own sessions since they were created.
   */
  scope(user: UserRecord, q: { user?: string | undefined; since?: number | undefined }): { user: string | undefined; since: number | undefined };
}

/*
 * Recordings belong to the user who made them, not to a name: the session index keeps the user
 * name, and a user deleted and re-created under the same name is another user. Rather than an id
 * column in users and sessions (and a backfill), a user owns only the sessions that started
 * after the user was created: the older ones of that name were a previous user's. Auditors still
 * see them all.
 */
const ownedBy = (s: SessionRecord, user: UserRecord) => s.user === user.name && s.startedAt >= user.createdAt;

/**
 * The one rule for who sees which recorded session (web API and web pages alike): `access` its
 * own, `auditor` everyone's; every refusal is audited.
 */
export function createSessionAccess(o: { auth: AuthService; store: Store }): SessionAccess {
  const isAuditor = (u: UserRecord) => u.roles.includes('auditor');
  const deny = async (user: UserRecord, what: string, addr: string): Promise<never> => {
    await o.auth.audit(AuditEvents.sessionAccessDenied, user.name, { what, addr });
    throw accessDenied(`access denied: ${what}`, "ask for the auditor role to see other users' sessions");
  };
  return {
    isAuditor,
    async visibleSession(user, id, addr) {
      const s = isUuid(id) ? await o.store.getSession(id) : undefined;
      if (!s) throw notFound(`no recording with id ${id}`, 'see tsh recordings ls');
      if (!ownedBy(s, user) && !isAuditor(user)) return deny(user, s.user === user.name ? `session ${id} of a previous user ${s.user}` : `session ${id} of ${s.user}`, addr);
      return s;
    },
    async checkListing(user, owner, addr) {
      if (owner !== undefined && owner !== user.name && !isAuditor(user)) await deny(user, `sessions of ${owner}`, addr);
    },
    scope(user, q) {
      if (isAuditor(user)) return { user: q.user, since: q.since };
      return { user: user.name, since: Math.max(q.since ?? 0, user.createdAt) };
    },
  };
}
