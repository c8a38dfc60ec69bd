import fs from 'node:fs';
import path from 'node:path';
import { nullLogger } from '../../src/lib/log.js';
import { SharedStoreStorage } from '../../src/lib/recording/storage.js';
import { createPostgresStore } from '../../src/lib/store/postgres.js';
import type { Store } from '../../src/lib/store/types.js';
import { testRecordingStorage } from '../contract/recording-storage-contract.js';
import { postgresForFile } from '../helpers/postgres.js';
import { tmpDir } from '../helpers/proc.js';

// One cluster for this file; every setup gets a database of its own.
const pgFile = postgresForFile('recordings');

// Daemon A: its spool in a data dir, its own pool. Daemon B (peer): another data dir and pool on
// the same database, as two daemons sharing the cluster have them.
testRecordingStorage(
  'PostgreSQL with a local spool',
  async () => {
    const conn = await pgFile.database();
    const root = tmpDir('tollgate-recstore-pg-');
    const stores: Store[] = [];
    const open = async () => {
      const s = await createPostgresStore(conn, { logger: nullLogger });
      stores.push(s);
      return s;
    };
    const storeA = await open();
    await storeA.migrate();
    const storeB = await open();
    const spoolA = path.join(root, 'a', 'recordings');
    const spoolB = path.join(root, 'b', 'recordings');
    return {
      storage: new SharedStoreStorage(spoolA, storeA, nullLogger),
      store: storeA,
      restart: () => new SharedStoreStorage(spoolA, storeA, nullLogger),
      peer: () => new SharedStoreStorage(spoolB, storeB, nullLogger),
      close: async () => {
        for (const s of stores) await s.close();
        fs.rmSync(root, { recursive: true, force: true });
      },
    };
  },
  { shared: true },
);
