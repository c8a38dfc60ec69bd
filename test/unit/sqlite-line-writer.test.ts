import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createSqliteStore } from '../../src/lib/store/index.js';
import { openSqliteDatabase } from '../../src/lib/store/sqlite.js';
import { SqliteLineWriter, TRANSACTION_LINES } from '../../src/lib/store/sqlite-line-writer.js';
import type { SessionLine } from '../../src/lib/store/types.js';
import { sessionRow } from '../helpers/sessions.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tollgate-line-writer-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('the index writer thread\'s prepared statements', () => {
  it('store the same rows as the store\'s indexSessionLines, in transactions of at most 50 lines, and they are found', async () => {
    const file = path.join(dir, 'tollgate.db');
    const store = await createSqliteStore(file);
    await store.migrate();
    const [a, b] = [0, 1].map((i) => sessionRow('joe', Date.now() + i, { kind: 'exec', pty: false, login: 'root', node: 'node1:22' }));
    await store.createSession(a!);
    await store.createSession(b!);
    const lines: SessionLine[] = Array.from({ length: 2 * TRANSACTION_LINES + 7 }, (_, i) => ({ seq: i, offsetMs: i === 0 ? -3 : i + 0.6, text: `ｆｕｌｌ-width Ünïcode line ${i} needle${i % 5} /etc/passwd` }));
    const db = await openSqliteDatabase(file);
    try {
      const writer = new SqliteLineWriter(db);
      let transactions = 0;
      writer.write(b!.id, lines, () => void transactions++);
      expect(transactions).toBe(3);
      // A retried batch keeps what was written first.
      writer.write(b!.id, [{ seq: 4, offsetMs: 9999, text: 'changed' }]);
      await store.indexSessionLines(a!.id, lines);
      const rows = (id: string) => db.prepare('SELECT seq, offset_ms, text, tokens FROM session_lines WHERE session_id = ? ORDER BY seq').all(id);
      expect(rows(b!.id)).toEqual(rows(a!.id));
      expect(rows(b!.id)).toHaveLength(lines.length);
      const hits = await store.searchSessions({ text: '"full width" needle3 /etc/passwd' });
      expect(new Set(hits.map((h) => h.sessionId))).toEqual(new Set([a!.id, b!.id]));
      expect(hits.filter((h) => h.sessionId === b!.id).map((h) => h.seq)).toEqual(lines.filter((l) => l.seq % 5 === 3).map((l) => l.seq));
    } finally {
      db.close();
      await store.close();
    }
  });
});
