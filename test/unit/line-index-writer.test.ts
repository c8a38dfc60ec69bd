import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { nullLogger } from '../../src/lib/log.js';
import { createSqliteStore } from '../../src/lib/store/index.js';
import { sessionRow } from '../helpers/sessions.js';

// The worker script exists only in the build (pretest builds dist/).
const built = path.resolve(import.meta.dirname, '../../dist/lib/store/line-index-host.js');
const { startLineIndexWriter } = (await import(built)) as typeof import('../../src/lib/store/line-index-host.js');

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tollgate-line-index-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('the search index writer thread (SQLite)', () => {
  it('writes lines through its own connection while the daemon\'s connection writes too, and they are searchable', async () => {
    const file = path.join(dir, 'tollgate.db');
    const store = await createSqliteStore(file);
    await store.migrate();
    const row = sessionRow('joe', Date.now(), { kind: 'exec', pty: false, login: 'root', node: 'node1:22' });
    await store.createSession(row);
    const writer = (await startLineIndexWriter(file, nullLogger))!;
    try {
      const batches = Array.from({ length: 20 }, (_, b) => Array.from({ length: 200 }, (_, i) => ({ seq: b * 200 + i, offsetMs: b, text: `line ${b * 200 + i} needle${b}` })));
      // The daemon's own writes go on meanwhile (audit events, session rows): neither side fails.
      const others = Array.from({ length: 20 }, (_, i) => store.createSession(sessionRow('ann', Date.now() + i, { kind: 'shell', pty: true, login: 'root', node: 'n:22' })));
      await Promise.all([...batches.map((lines) => writer.indexSessionLines(row.id, lines)), ...others]);
      const hits = await store.searchSessions({ text: 'needle7' });
      expect(hits).toHaveLength(50);
      expect(hits.every((h) => h.sessionId === row.id)).toBe(true);
    } finally {
      await writer.close();
      await store.close();
    }
  });

  it('a store file it cannot open fails at start-up, with the reason', async () => {
    await expect(startLineIndexWriter(path.join(dir, 'missing', 'tollgate.db'), nullLogger)).rejects.toThrow(/cannot open the store|ENOENT/);
  });

  it('after it is closed, a write is refused (the session\'s indexer is dropped and audited), not lost silently', async () => {
    const file = path.join(dir, 'closed.db');
    const store = await createSqliteStore(file);
    await store.migrate();
    await store.close();
    const writer = (await startLineIndexWriter(file, nullLogger))!;
    await writer.close();
    await expect(writer.indexSessionLines('x', [{ seq: 0, offsetMs: 0, text: 'a' }])).rejects.toThrow(/stopping/);
  });
});
