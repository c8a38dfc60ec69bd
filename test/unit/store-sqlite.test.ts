import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { expect, it } from 'vitest';
import { createSqliteStore } from '../../src/lib/store/sqlite.js';
import type { Store } from '../../src/lib/store/types.js';
import { storeContract } from '../contract/store-contract.js';
import { openSqliteStoreInThread } from '../helpers/store-thread.js';

const fresh = async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tollgate-store-'));
  const s = await createSqliteStore(path.join(dir, 'tollgate.db'));
  await s.migrate();
  return s;
};

// The second store lives in a worker thread: its own connection and event loop, like tctl's
// process beside the daemon's.
const twoStores = async () => {
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'tollgate-store-')), 'tollgate.db');
  const a = await createSqliteStore(file);
  return [a, await openSqliteStoreInThread(file)] as [Store, Store];
};

storeContract('sqlite', fresh, { twoStores });

it('sqlite: the store file is created 0600 whatever the umask', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tollgate-store-'));
  const old = process.umask(0o022);
  try {
    const s = await createSqliteStore(path.join(dir, 'tollgate.db'));
    await s.migrate();
    expect(fs.statSync(path.join(dir, 'tollgate.db')).mode & 0o777).toBe(0o600);
    await s.close();
  } finally {
    process.umask(old);
  }
});
