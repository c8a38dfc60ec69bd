import type { Readable } from 'node:stream';
import { notFound } from '../errors.js';
import type { Logger } from '../log.js';
import { readCastBatches } from '../recording/index.js';
import type { SessionLine, Store } from '../store/index.js';
import { createSearchIndexer, type IndexerEvent } from './session-indexer.js';

export interface ReindexOptions {
  store: Pick<Store, 'getSession' | 'listSessions' | 'indexSessionLines' | 'clearSessionLines'>;
  /** Where recordings are read (RecordingStorage.open). */
  open(id: string): Promise<Readable | null>;
  log: Logger;
}

export interface ReindexResult {
  id: string;
  lines: number;
  /** Why the session was not indexed (no recording, a running session). */
  skipped?: string;
}

/**
 * Rebuilds one session's search lines from its `.cast`, the way the live indexer builds them
 * (same emulator, same times). The command log is not rebuilt: it is the audit log, append-only,
 * and a recording without keystrokes (record_input off) does not say when Enter was pressed.
 */
export async function reindexSession(o: ReindexOptions, id: string): Promise<ReindexResult> {
  const s = await o.store.getSession(id);
  if (!s) throw notFound(`no session with id ${id}`, 'see tctl sessions ls');
  if (s.endedAt === null) return { id, lines: 0, skipped: 'still running (the live indexer has it)' };
  if (s.kind === 'sftp' || s.kind === 'subsystem') return { id, lines: 0, skipped: `${s.kind} sessions have no text to index` };
  const cast = await o.open(id);
  if (!cast) return { id, lines: 0, skipped: 'no recording in storage' };
  let lines = 0;
  const store = {
    getSession: async () => s,
    indexSessionLines: async (sid: string, batch: readonly SessionLine[]) => {
      lines += batch.length;
      await o.store.indexSessionLines(sid, batch);
    },
  };
  await o.store.clearSessionLines(id);
  let indexer: ReturnType<typeof createSearchIndexer> | undefined;
  let last = 0;
  for await (const item of readCastBatches(cast, (m) => o.log.warn(m, { component: 'search', sid: id }))) {
    if ('header' in item) {
      indexer = createSearchIndexer({ sessionId: id, pty: s.pty ? { cols: item.header.width, rows: item.header.height } : null, store, log: o.log, batchLines: 1000, now: () => s.startedAt + last });
      continue;
    }
    const events: IndexerEvent[] = [];
    const at: number[] = [];
    for (const [t, code, data] of item.events) {
      last = Math.round(t * 1000);
      if (code === 'o' || code === 'i') events.push({ type: code === 'o' ? 'output' : 'input', data: Buffer.from(data, 'utf8') });
      else if (code === 'r') {
        const [cols, rows] = data.split('x').map(Number);
        if (!cols || !rows) continue;
        events.push({ type: 'resize', cols, rows });
      } else continue;
      at.push(s.startedAt + last);
    }
    await indexer?.deliver(events, at);
  }
  await indexer?.close();
  await indexer?.settled();
  return { id, lines };
}

/** Reindexes every ended session (newest first), one at a time; a failure is reported, not fatal. */
export async function reindexAll(o: ReindexOptions): Promise<ReindexResult[]> {
  const results: ReindexResult[] = [];
  for (const s of await o.store.listSessions({ limit: 1_000_000 })) {
    try {
      results.push(await reindexSession(o, s.id));
    } catch (err) {
      results.push({ id: s.id, lines: 0, skipped: `failed: ${(err as Error).message}` });
    }
  }
  return results;
}
