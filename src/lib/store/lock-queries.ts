/** The SQL of locks and of issued-certificate lookups (revocation), shared by KyselyStore on both engines. */
import type { Kysely, Selectable } from 'kysely';
import type { Database } from './schema.js';
import type { IssuedCertRecord, LockRecord } from './types.js';
import { num, numOrNull } from './rows.js';

function toLock(r: Selectable<Database['locks']>): LockRecord {
  return { id: r.id, kind: r.kind as LockRecord['kind'], target: r.target, message: r.message, expiresAt: numOrNull(r.expires_at), createdBy: r.created_by, createdAt: num(r.created_at) };
}

export function toIssuedCert(r: Selectable<Database['issued_certs']>): IssuedCertRecord {
  return {
    serial: r.serial,
    type: r.type as IssuedCertRecord['type'],
    keyId: r.key_id,
    principals: JSON.parse(r.principals) as string[],
    validAfter: num(r.valid_after),
    validBefore: num(r.valid_before),
    fingerprint: r.fingerprint,
    createdAt: num(r.created_at),
  };
}

export async function createLock(db: Kysely<Database>, l: LockRecord): Promise<void> {
  await db.insertInto('locks').values({ id: l.id, kind: l.kind, target: l.target, message: l.message, expires_at: l.expiresAt, created_by: l.createdBy, created_at: l.createdAt }).execute();
}

export async function listLocks(db: Kysely<Database>, now?: number): Promise<LockRecord[]> {
  let q = db.selectFrom('locks').selectAll();
  if (now !== undefined) q = q.where((eb) => eb.or([eb('expires_at', 'is', null), eb('expires_at', '>', now)]));
  return (await q.orderBy('created_at').orderBy('id').execute()).map(toLock);
}

export async function deleteLock(db: Kysely<Database>, id: string): Promise<boolean> {
  const r = await db.deleteFrom('locks').where('id', '=', id).executeTakeFirst();
  return Number(r.numDeletedRows) > 0;
}

export async function getIssuedCert(db: Kysely<Database>, serial: string): Promise<IssuedCertRecord | undefined> {
  const r = await db.selectFrom('issued_certs').selectAll().where('serial', '=', serial).executeTakeFirst();
  return r && toIssuedCert(r);
}

export async function listUnexpiredCerts(db: Kysely<Database>, type: IssuedCertRecord['type'], now: number): Promise<IssuedCertRecord[]> {
  return (await db.selectFrom('issued_certs').selectAll().where('type', '=', type).where('valid_before', '>', now).orderBy('created_at').execute()).map(toIssuedCert);
}
