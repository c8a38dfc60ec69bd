import type { Db } from './sqlite.js';
import { sessionLineRow } from './search-query.js';
import type { SessionLine } from './types.js';

/** Lines per statement and per transaction: about half a millisecond of SQLite's time each. */
export const TRANSACTION_LINES = 50;

/**
 * Writes search index lines to session_lines on a connection of its own (the index writer's
 * thread), with prepared statements kept for the connection's life. The same rows as the store's
 * `indexSessionLines` (`sessionLineRow`), conflicting lines kept as they were; but where Kysely
 * builds and SQLite prepares a 50-row INSERT for every batch, this prepares it once: 7 CPU µs a
 * line instead of 12 (FTS5 and the table's B-trees are most of what is left).
 */
export class SqliteLineWriter {
  /** By row count, 1..TRANSACTION_LINES. */
  private readonly inserts = new Map<number, ReturnType<Db['prepare']>>();
  private readonly insertInOneTransaction: (insert: ReturnType<Db['prepare']>, params: unknown[]) => void;

  constructor(private readonly db: Db) {
    this.insertInOneTransaction = db.transaction((insert: ReturnType<Db['prepare']>, params: unknown[]) => void insert.run(params)).immediate;
  }

  /**
   * Writes `lines` in transactions of at most TRANSACTION_LINES; `beforeEach` runs before each
   * transaction (the writer yields to the daemon's thread there). A failed transaction throws and
   * is rolled back; the ones before it stay written.
   */
  write(sessionId: string, lines: readonly SessionLine[], beforeEach: () => void = () => {}): void {
    for (let i = 0; i < lines.length; i += TRANSACTION_LINES) {
      const batch = lines.slice(i, i + TRANSACTION_LINES);
      const params: unknown[] = [];
      for (const line of batch) {
        const r = sessionLineRow(sessionId, line);
        params.push(r.session_id, r.seq, r.offset_ms, r.text, r.tokens);
      }
      const insert = this.insert(batch.length);
      beforeEach();
      // IMMEDIATE: the write lock is taken at BEGIN, through the busy handler. A deferred
      // transaction that read first (the schema, when the statement was prepared inside it) cannot
      // wait for the lock in WAL mode: SQLite answers SQLITE_BUSY at once ("database is locked").
      this.insertInOneTransaction(insert, params);
    }
  }

  private insert(rows: number): ReturnType<Db['prepare']> {
    let st = this.inserts.get(rows);
    if (!st) {
      const values = Array.from({ length: rows }, () => '(?, ?, ?, ?, ?)').join(', ');
      st = this.db.prepare(`INSERT INTO session_lines (session_id, seq, offset_ms, text, tokens) VALUES ${values} ON CONFLICT (session_id, seq) DO NOTHING`);
      this.inserts.set(rows, st);
    }
    return st;
  }
}
