import fs from 'node:fs';
import path from 'node:path';
import { LocalDirStorage } from '../../src/lib/recording/storage.js';
import { createSqliteStore } from '../../src/lib/store/sqlite.js';
import { testRecordingStorage } from '../contract/recording-storage-contract.js';
import { tmpDir } from '../helpers/proc.js';

// The embedded default: recordings stay in the data dir, the SQLite session index beside them.
testRecordingStorage(
  'local data dir',
  async () => {
    const root = tmpDir('tollgate-recstore-');
    const store = await createSqliteStore(path.join(root, 'tollgate.db'));
    await store.migrate();
    const dir = path.join(root, 'recordings');
    return {
      storage: new LocalDirStorage(dir, store),
      store,
      restart: () => new LocalDirStorage(dir, store),
      close: async () => {
        await store.close();
        fs.rmSync(root, { recursive: true, force: true });
      },
    };
  },
  { shared: false },
);
