import fs from 'node:fs';
import { Kysely, SqliteDialect } from 'kysely';
import { kyselyQueryLog, type QueryObserver } from './query-timing.js';
import { unavailable } from '../errors.js';
import { KyselyStore } from './kysely-store.js';
import type { Database } from './schema.js';
import type { Store } from './types.js';

/**
 * The embedded store: one SQLite file (mode 0600) in the data dir, WAL mode so tctl's reads and
 * the daemon's writes do not block each other.
 */
export async function createSqliteStore(file: string, options: { onQuery?: QueryObserver } = {}): Promise<Store> {
  const { default: BetterSqlite3 } = await import('better-sqlite3');
  // Create the file 0600 before SQLite does, whatever the umask.
  fs.closeSync(fs.openSync(file, 'a', 0o600));
  fs.chmodSync(file, 0o600);
  let database;
  try {
    database = new BetterSqlite3(file);
    database.pragma('journal_mode = WAL');
    database.pragma('busy_timeout = 5000');
    database.pragma('foreign_keys = ON');
  } catch (err) {
    throw unavailable(`cannot open the store ${file}: ${(err as Error).message}`, 'check that the data dir is writable and the file is a tollgate database', err);
  }
  return new KyselyStore(new Kysely<Database>({ dialect: new SqliteDialect({ database }), ...kyselyQueryLog(options.onQuery) }), 'sqlite');
}
