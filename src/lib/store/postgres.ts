import { Kysely, PostgresDialect } from 'kysely';
import type { Pool, PoolClient, PoolConfig } from 'pg';
import { badParameter, unavailable } from '../errors.js';
import { createLogger, type Logger } from '../log.js';
import { kyselyQueryLog, type QueryObserver } from './query-timing.js';
import { KyselyStore } from './kysely-store.js';
import type { Database } from './schema.js';
import type { Store } from './types.js';

/**
 * Key of the session-level advisory lock that serialises schema migrations across every process
 * sharing the database ("tollgate" in ASCII). Kysely's Migrator takes its own advisory lock too
 * (key 3853314791062309107), but only after it has created its bookkeeping tables; this one is
 * held around the whole run.
 */
export const MIGRATION_LOCK_KEY = '8390891521163392101';

export interface PostgresStoreOptions {
  /** Where dropped idle connections (a PostgreSQL restart, a failover) are reported. */
  logger?: Logger;
  /** Connections per process (default 10, at least 2: migrating holds one for its lock). */
  maxConnections?: number;
  /** Told how long each query took (the diag part's latency histogram). */
  onQuery?: QueryObserver;
}

/**
 * The shared store: one PostgreSQL database that several auth and proxy processes use at once.
 * `connString` is a `postgres://user:password@host:port/db` URL; it is never echoed in errors.
 */
export async function createPostgresStore(connString: string, options: PostgresStoreOptions = {}): Promise<Store> {
  if (!/^postgres(ql)?:\/\//i.test(connString)) {
    throw badParameter('the PostgreSQL connection string must be a URL', 'write it as postgres://user:password@host:5432/database');
  }
  const { default: pg } = await import('pg');
  const log = options.logger ?? createLogger().child({ component: 'store' });
  const where = describeTarget(connString);
  const pool = new pg.Pool(postgresPoolOptions(connString, options));
  // An idle connection that PostgreSQL drops emits 'error' on the pool, which throws when nobody
  // listens: log it instead. The pool has already discarded the connection and opens a new one
  // for the next query.
  pool.on('error', (err) => log.warn('PostgreSQL connection lost; it will be reopened', { target: where, error: describeError(err, connString) }));
  // A checked-out connection that is between queries (the migration lock holder, a transaction
  // awaiting the caller) emits 'error' on the client: keep that from crashing the process too; its
  // next query fails and the pool discards it.
  pool.on('connect', (client) => client.on('error', (err) => log.debug('PostgreSQL connection error', { target: where, error: describeError(err, connString) })));

  try {
    (await pool.connect()).release();
  } catch (err) {
    await pool.end().catch((endErr: unknown) => log.warn('closing the PostgreSQL pool failed', { error: describeError(endErr, connString) }));
    throw unavailable(`cannot connect to PostgreSQL at ${where}: ${describeError(err, connString)}`, HINT, err);
  }

  const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }), ...kyselyQueryLog(options.onQuery) });
  return new KyselyStore(db, 'postgres', { serialiseMigrations: (run) => withAdvisoryLock(pool, log, (err) => describeError(err, connString), run) });
}

/**
 * The pool's options. The URL goes to pg whole, so its `sslmode` (require, verify-ca, verify-full)
 * and `sslrootcert` work as libpq's do: nothing here may set `ssl` and override them.
 */
export function postgresPoolOptions(connString: string, options: PostgresStoreOptions = {}): PoolConfig {
  return {
    connectionString: connString,
    max: Math.max(2, options.maxConnections ?? 10),
    connectionTimeoutMillis: 10_000,
    // Shows in pg_stat_activity; an application_name in the URL takes precedence.
    application_name: 'tollgate',
  };
}

const HINT = 'check that PostgreSQL is running and reachable, and the connection string (host, port, database, user, password)';

/**
 * Runs `run` while holding a session-level advisory lock on a connection of its own, so that of
 * several processes starting together one migrates and the others wait, then find nothing to do.
 * The lock dies with the session: a process that crashes mid-migration does not wedge the rest.
 */
async function withAdvisoryLock<T>(pool: Pool, log: Logger, describe: (err: unknown) => string, run: () => Promise<T>): Promise<T> {
  const lockFailed = (err: unknown) => unavailable(`cannot take the PostgreSQL migration lock: ${describe(err)}`, HINT, err);
  const client: PoolClient = await pool.connect().catch((err: unknown) => Promise.reject(lockFailed(err)));
  let ok = false;
  try {
    try {
      const got = await client.query('SELECT pg_try_advisory_lock($1::bigint) AS locked', [MIGRATION_LOCK_KEY]);
      if (got.rows[0]?.locked !== true) {
        log.info('waiting for another process to finish migrating the database');
        await client.query('SELECT pg_advisory_lock($1::bigint)', [MIGRATION_LOCK_KEY]);
      }
    } catch (err) {
      throw lockFailed(err);
    }
    try {
      const result = await run();
      ok = true;
      return result;
    } finally {
      const unlocked = await client.query('SELECT pg_advisory_unlock($1::bigint) AS released', [MIGRATION_LOCK_KEY]).then(
        (r) => r.rows[0]?.released === true,
        () => false,
      );
      ok &&= unlocked;
    }
  } finally {
    // Unless all went well and the lock was released, end the session: PostgreSQL then drops the lock.
    client.release(!ok);
  }
}

/** `user@host:port/db` from a URL, without the password or query parameters. */
function describeTarget(connString: string): string {
  try {
    const u = new URL(connString);
    const db = decodeURIComponent(u.pathname.replace(/^\//, ''));
    const host = u.host || u.searchParams.get('host') || 'localhost';
    return `${u.username ? `${decodeURIComponent(u.username)}@` : ''}${host}${db ? `/${db}` : ''}`;
  } catch {
    return 'the configured server';
  }
}

/** One line from a pg/network error; the password is scrubbed in case a message quotes it. */
function describeError(err: unknown, connString: string): string {
  const e = err as { message?: string; code?: string; errors?: unknown[] };
  let msg = e?.message || '';
  // Node reports a refused dual-stack connect as an AggregateError with an empty message.
  if (!msg && Array.isArray(e?.errors)) msg = [...new Set(e.errors.map((x) => (x as Error)?.message).filter(Boolean))].join('; ');
  msg ||= e?.code || String(err);
  for (const secret of secrets(connString)) msg = msg.split(secret).join('***');
  msg = msg.replace(/(:\/\/[^:@/\s]*):[^@/\s]*@/g, '$1:***@').replace(/(password=)[^\s&]*/gi, '$1***');
  return msg.replace(/\s+/g, ' ').trim();
}

function secrets(connString: string): string[] {
  try {
    const u = new URL(connString);
    const found = [u.password, decodeURIComponent(u.password), u.searchParams.get('password') ?? ''];
    return found.filter((s) => s.length > 0);
  } catch {
    return [];
  }
}
