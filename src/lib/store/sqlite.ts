import fs from 'node:fs';
import { Kysely, SqliteDialect, type SqliteDatabase } from 'kysely';
import { kyselyQueryLog, type QueryObserver } from './query-timing.js';
import { unavailable } from '../errors.js';
import { KyselyStore } from './kysely-store.js';
import type { Database } from './schema.js';
import type { Store } from './types.js';

/**
 * The embedded store: one SQLite file (mode 0600) in the data dir, WAL mode so tctl's reads and
 * the daemon's writes do not block each other.
 */
export async function createSqliteStore(file: string, options: { onQuery?: QueryObserver; writeGate?: SharedArrayBuffer } = {}): Promise<Store> {
  const database = await openSqliteDatabase(file);
  const dialect = new SqliteDialect({ database: options.writeGate ? gated(database, new Int32Array(options.writeGate)) : database });
  return new KyselyStore(new Kysely<Database>({ dialect, ...kyselyQueryLog(options.onQuery) }), 'sqlite');
}

/** A connection to the store's file as every tollgate connection opens it: 0600, WAL, a busy timeout, foreign keys. */
export async function openSqliteDatabase(file: string): Promise<Db> {
  const { default: BetterSqlite3 } = await import('better-sqlite3');
  // Create the file 0600 before SQLite does, whatever the umask.
  fs.closeSync(fs.openSync(file, 'a', 0o600));
  fs.chmodSync(file, 0o600);
  try {
    const database = new BetterSqlite3(file);
    database.pragma('journal_mode = WAL');
    database.pragma('busy_timeout = 5000');
    database.pragma('foreign_keys = ON');
    return database;
  } catch (err) {
    throw unavailable(`cannot open the store ${file}: ${(err as Error).message}`, 'check that the data dir is writable and the file is a tollgate database', err);
  }
}

export type Db = InstanceType<typeof import('better-sqlite3')>;

/**
 * The daemon's connection, marking `gate[0]` while a statement runs in this thread: the search
 * index writer's thread (line-index-worker.ts) waits for it to clear before its next transaction.
 * Without that, a statement here that finds the write lock taken sleeps in SQLite's busy handler
 * (1, 2, 5, 10... ms) while the index writer takes the lock again between its tries: the relay's
 * thread stalled for up to 63 ms with four sessions indexing.
 */
function gated(db: Db, gate: Int32Array): SqliteDatabase {
  const marked = <T>(run: () => T): T => {
    Atomics.add(gate, 0, 1);
    try {
      return run();
    } finally {
      Atomics.sub(gate, 0, 1);
      Atomics.notify(gate, 0);
    }
  };
  return {
    close: () => db.close(),
    prepare(sql: string) {
      const st = db.prepare(sql);
      return {
        reader: st.reader,
        all: (p: ReadonlyArray<unknown>) => marked(() => st.all(p)),
        run: (p: ReadonlyArray<unknown>) => marked(() => st.run(p)),
        iterate: (p: ReadonlyArray<unknown>) => st.iterate(p),
      };
    },
  };
}
