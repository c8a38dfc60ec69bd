import crypto from 'node:crypto';
import { AuditEvents } from '../audit/index.js';
import { encodeKrl } from '../ca/index.js';
import type { Clock } from '../clock.js';
import { badParameter, notFound } from '../errors.js';
import { isUuid } from '../ids.js';
import type { LockKind, LockRecord, Store } from '../store/index.js';
import type { AuthService } from './auth-service.js';

export const LOCK_KINDS: readonly LockKind[] = ['user', 'login', 'node', 'session'];
/** A lock's message reaches clients' terminals and the audit log: one bounded line. */
export const LOCK_MESSAGE_MAX = 512;

/** A lock as tctl and the admin API show it. */
export interface PublicLock {
  id: string;
  kind: LockKind;
  target: string;
  message: string;
  expires_at: string | null;
  created_by: string;
  created_at: string;
}

export function publicLock(l: LockRecord): PublicLock {
  return {
    id: l.id,
    kind: l.kind,
    target: l.target,
    message: l.message,
    expires_at: l.expiresAt === null ? null : new Date(l.expiresAt).toISOString(),
    created_by: l.createdBy,
    created_at: new Date(l.createdAt).toISOString(),
  };
}

/** What the KRL holds, for the command's summary. */
export interface KrlExport {
  krl: Buffer;
  serials: number;
  keyIds: number;
  /** Locks a KRL cannot express (node and session locks): only the proxy enforces them. */
  proxyOnly: number;
}

/**
 * Locks (tctl lock / locks ls / locks rm) and the KRL for nodes that trust the user CA directly.
 * The proxy enforces locks itself (session/authorize.ts at every session start; live-directory.ts
 * ends running sessions); this service only keeps them, audits them and exports what a KRL can say.
 */
export class LockService {
  constructor(private readonly o: { auth: AuthService; store: Store; clock: Clock }) {}

  async create(req: { kind: LockKind; target: string; message?: string; ttlMs?: number }, actor: string): Promise<LockRecord> {
    const target = req.target.trim();
    if (!LOCK_KINDS.includes(req.kind)) throw badParameter(`unknown lock target "${req.kind}"`, 'lock one of --user, --login, --node, --session');
    if (!target || target.length > 256 || /[\u0000-\u001f\u007f\s]/.test(target)) throw badParameter(`invalid lock target ${JSON.stringify(target.slice(0, 64))}`, 'a user name, login, node name or session id');
    if (req.kind === 'session' && !isUuid(target)) throw badParameter(`"${target}" is not a session id`, 'see tctl sessions ls --active');
    const message = (req.message ?? '').replace(/[\u0000-\u001f\u007f-\u009f]/g, ' ').trim();
    if (message.length > LOCK_MESSAGE_MAX) throw badParameter(`the lock message is longer than ${LOCK_MESSAGE_MAX} characters`);
    if (req.ttlMs !== undefined && (!Number.isFinite(req.ttlMs) || req.ttlMs < 1000)) throw badParameter('--ttl must be at least 1s');
    const now = this.o.clock.now().getTime();
    const lock: LockRecord = { id: crypto.randomUUID(), kind: req.kind, target, message, expiresAt: req.ttlMs === undefined ? null : now + req.ttlMs, createdBy: actor, createdAt: now };
    await this.o.store.createLock(lock);
    await this.o.auth.audit(AuditEvents.lockCreate, req.kind === 'user' ? target : null, { id: lock.id, target: `${lock.kind}=${lock.target}`, message, expires: lock.expiresAt === null ? null : new Date(lock.expiresAt).toISOString(), actor });
    return lock;
  }

  /** Locks in force now (expired ones are not listed, and no longer apply). */
  list(): Promise<LockRecord[]> {
    return this.o.store.listLocks(this.o.clock.now().getTime());
  }

  async remove(id: string, actor: string): Promise<void> {
    const lock = (await this.o.store.listLocks()).find((l) => l.id === id);
    if (!lock || !(await this.o.store.deleteLock(id))) throw notFound(`no lock with id ${id}`, 'see tctl locks ls');
    await this.o.auth.audit(AuditEvents.lockDelete, lock.kind === 'user' ? lock.target : null, { id, target: `${lock.kind}=${lock.target}`, actor });
  }

  /**
   * The KRL for sshd's RevokedKeys on nodes that trust the user CA: locked users by key id (every
   * certificate tollgate issues names its user as key id), and by serial every unexpired user
   * certificate that a login lock names or that predates its user's creation or last reset (or
   * whose user is gone). Node and session locks have no KRL form: only the proxy enforces them.
   */
  async exportKrl(): Promise<KrlExport> {
    const now = this.o.clock.now().getTime();
    const [locks, certs, users] = await Promise.all([this.o.store.listLocks(now), this.o.store.listUnexpiredCerts('user', now), this.o.store.listUsers()]);
    const byName = new Map(users.map((u) => [u.name, u]));
    const keyIds = locks.filter((l) => l.kind === 'user').map((l) => l.target);
    const lockedLogins = new Set(locks.filter((l) => l.kind === 'login').map((l) => l.target));
    const serials: bigint[] = [];
    for (const c of certs) {
      const u = byName.get(c.keyId);
      const revoked = !u || c.createdAt < u.createdAt || (u.credentialsResetAt != null && c.createdAt < u.credentialsResetAt) || c.principals.some((p) => lockedLogins.has(p));
      if (revoked) serials.push(BigInt(c.serial));
    }
    const krl = encodeKrl({ caKeyBlob: this.o.auth.ca('user').publicBlob, serials, keyIds, generatedAt: now / 1000, comment: `tollgate ${this.o.auth.clusterName} user CA` });
    return { krl, serials: new Set(serials).size, keyIds: new Set(keyIds).size, proxyOnly: locks.filter((l) => l.kind === 'node' || l.kind === 'session').length };
  }
}
