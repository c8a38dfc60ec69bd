/** The inventory's SQL (nodes and join tokens), shared by KyselyStore on both engines. */
import type { Kysely, Selectable } from 'kysely';
import type { Database } from './schema.js';
import type { JoinTokenRecord, NodeRecord } from './types.js';
import { num, numOrNull } from './rows.js';

function toNode(r: Selectable<Database['nodes']>): NodeRecord {
  return {
    name: r.name,
    host: r.host,
    port: num(r.port),
    labels: JSON.parse(r.labels) as Record<string, string>,
    addedBy: r.added_by,
    createdAt: num(r.created_at),
    hostKeyFingerprint: r.host_key_fingerprint,
  };
}

function toJoinToken(r: Selectable<Database['join_tokens']>): JoinTokenRecord {
  return { tokenHash: r.token_hash, type: r.type as JoinTokenRecord['type'], createdAt: num(r.created_at), expiresAt: num(r.expires_at), usedAt: numOrNull(r.used_at), usedBy: r.used_by };
}

export async function putNode(db: Kysely<Database>, n: NodeRecord): Promise<void> {
  const row = { name: n.name, host: n.host, port: n.port, labels: JSON.stringify(n.labels), added_by: n.addedBy, created_at: n.createdAt, host_key_fingerprint: n.hostKeyFingerprint };
  // One statement: two daemons registering the same node cannot interleave a delete and an insert.
  await db
    .insertInto('nodes')
    .values(row)
    .onConflict((oc) => oc.column('name').doUpdateSet({ host: row.host, port: row.port, labels: row.labels, added_by: row.added_by, host_key_fingerprint: row.host_key_fingerprint }))
    .execute();
}

export async function getNode(db: Kysely<Database>, name: string): Promise<NodeRecord | undefined> {
  const r = await db.selectFrom('nodes').selectAll().where('name', '=', name).executeTakeFirst();
  return r && toNode(r);
}

export async function listNodes(db: Kysely<Database>): Promise<NodeRecord[]> {
  return (await db.selectFrom('nodes').selectAll().orderBy('name').execute()).map(toNode);
}

export async function deleteNode(db: Kysely<Database>, name: string): Promise<boolean> {
  const r = await db.deleteFrom('nodes').where('name', '=', name).executeTakeFirst();
  return Number(r.numDeletedRows) > 0;
}

export async function createJoinToken(db: Kysely<Database>, t: JoinTokenRecord): Promise<void> {
  await db.insertInto('join_tokens').values({ token_hash: t.tokenHash, type: t.type, created_at: t.createdAt, expires_at: t.expiresAt, used_at: t.usedAt, used_by: t.usedBy }).execute();
}

/** One conditional UPDATE: atomic on both engines, so a token is redeemed at most once. */
export async function consumeJoinToken(db: Kysely<Database>, tokenHash: string, now: number, node: string): Promise<JoinTokenRecord | undefined> {
  const r = await db
    .updateTable('join_tokens')
    .set({ used_at: now, used_by: node })
    .where('token_hash', '=', tokenHash)
    .where('used_at', 'is', null)
    .where('expires_at', '>', now)
    .returningAll()
    .executeTakeFirst();
  return r && toJoinToken(r);
}

export async function getJoinToken(db: Kysely<Database>, tokenHash: string): Promise<JoinTokenRecord | undefined> {
  const r = await db.selectFrom('join_tokens').selectAll().where('token_hash', '=', tokenHash).executeTakeFirst();
  return r && toJoinToken(r);
}

export async function listJoinTokens(db: Kysely<Database>): Promise<JoinTokenRecord[]> {
  return (await db.selectFrom('join_tokens').selectAll().orderBy('created_at', 'desc').execute()).map(toJoinToken);
}
