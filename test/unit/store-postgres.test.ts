import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { createLogger, nullLogger } from '../../src/lib/log.js';
import { createPostgresStore, MIGRATION_LOCK_KEY } from '../../src/lib/store/postgres.js';
import type { Store } from '../../src/lib/store/types.js';
import { storeContract } from '../contract/store-contract.js';
import { postgresForFile } from '../helpers/postgres.js';
import { freePort, waitFor } from '../helpers/proc.js';

// One cluster for this file; every store gets a database of its own.
const pgFile = postgresForFile('contract');
const freshDatabase = pgFile.database;

const fresh = async () => {
  const s = await createPostgresStore(await freshDatabase(), { logger: nullLogger });
  await s.migrate();
  return s;
};

// Two pools on one database: what two tollgate processes sharing the cluster have.
const twoStores = async (): Promise<[Store, Store]> => {
  const conn = await freshDatabase();
  return [await createPostgresStore(conn, { logger: nullLogger }), await createPostgresStore(conn, { logger: nullLogger })];
};

storeContract('postgres', fresh, { twoStores });

describe('postgres store', () => {
  it('an unreachable server is `unavailable`, in one line, without the password', async () => {
    const port = await freePort();
    const err = await createPostgresStore(`postgresql://joe:s3cr%40t-pw@127.0.0.1:${port}/tollgate?password=other-secret`).catch((e: unknown) => e);
    expect(err).toMatchObject({ kind: 'unavailable' });
    const { message, hint } = err as { message: string; hint: string };
    expect(message).toContain(`cannot connect to PostgreSQL at joe@127.0.0.1:${port}/tollgate`);
    expect(message).toMatch(/ECONNREFUSED/);
    expect(message).not.toMatch(/s3cr|other-secret/);
    expect(message).not.toContain('\n');
    expect(hint).toMatch(/PostgreSQL is running/);
  });

  it('a missing database is `unavailable` with the server\'s reason, without the password', async () => {
    const conn = pgFile.cluster().connString('no_such_db').replace('postgres@', 'postgres:hunter2@');
    const err = await createPostgresStore(conn).catch((e: unknown) => e);
    expect(err).toMatchObject({ kind: 'unavailable' });
    expect((err as Error).message).toMatch(/database "no_such_db" does not exist/);
    expect((err as Error).message).not.toContain('hunter2');
  });

  it('migrate waits while another process holds the migration lock, then runs', async () => {
    const lines: string[] = [];
    const conn = await freshDatabase();
    const other = new pg.Client({ connectionString: conn });
    await other.connect();
    await other.query('SELECT pg_advisory_lock($1::bigint)', [MIGRATION_LOCK_KEY]);
    const s = await createPostgresStore(conn, { logger: createLogger({ write: (l) => lines.push(l) }) });
    let done = false;
    const migrating = s.migrate().then(() => (done = true));
    await waitFor(() => lines.some((l) => l.includes('waiting for another process')), 'migrate to wait for the lock');
    await new Promise((r) => setTimeout(r, 200));
    expect(done).toBe(false);
    expect(await other.query("SELECT to_regclass('users') AS t").then((r) => r.rows[0].t)).toBeNull();
    await other.query('SELECT pg_advisory_unlock($1::bigint)', [MIGRATION_LOCK_KEY]);
    await migrating;
    expect(await other.query("SELECT to_regclass('users') AS t").then((r) => r.rows[0].t)).toBe('users');
    await other.end();
    await s.close();
  });

  it('survives PostgreSQL dropping its idle connections, and reconnects', async () => {
    const lines: string[] = [];
    const logger = createLogger({ write: (l) => lines.push(l) });
    const conn = await freshDatabase();
    const s = await createPostgresStore(conn, { logger });
    await s.migrate();
    await s.createUser({ name: 'joe', logins: ['root'], roles: ['access'], passwordHash: null, otpSecret: null, createdAt: 1, lockedUntil: null, nodeLabels: { '*': ['*'] } }, undefined);
    // What a restart does to every session: terminate them (SQLSTATE 57P01) while they sit idle.
    const admin = new pg.Client({ connectionString: pgFile.cluster().connString() });
    await admin.connect();
    const killed = await admin.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1', [conn.slice(conn.lastIndexOf('/') + 1)]);
    await admin.end();
    expect(killed.rowCount).toBeGreaterThan(0);
    // Every idle connection that was killed, not just the first: a query on one the pool has not
    // yet heard about fails (that race made this test flaky).
    await waitFor(() => lines.filter((l) => l.includes('PostgreSQL connection lost')).length >= killed.rowCount!, 'the pool to report every dropped connection');
    expect((await s.getUser('joe'))?.name).toBe('joe');
    await s.close();
  });
});
