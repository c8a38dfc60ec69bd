import path from 'node:path';
import type { AuditEvent } from '../../src/lib/store/types.js';
import type { TestDaemon } from './daemon.js';

/** Reads audit events of the given types straight from the daemon's store, newest first. */
export async function auditEvents(daemon: TestDaemon, types: readonly string[]): Promise<AuditEvent[]> {
  const { createSqliteStore } = await import('../../src/lib/store/sqlite.js');
  const store = await createSqliteStore(path.join(daemon.dataDir, 'tollgate.db'));
  try {
    return await store.listEvents({ types, limit: 1000 });
  } finally {
    await store.close();
  }
}
