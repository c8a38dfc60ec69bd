import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { AuthService } from '../../src/lib/auth/auth-service.js';
import { FakeClock } from '../../src/lib/clock.js';
import { nullLogger, type Logger } from '../../src/lib/log.js';
import { createSqliteStore } from '../../src/lib/store/sqlite.js';
import type { Store } from '../../src/lib/store/types.js';

export interface AuthFixture {
  dir: string;
  store: Store;
  clock: FakeClock;
  auth: AuthService;
  /** Closes the store and removes the temp dir. */
  close(): Promise<void>;
}

/** The auth service over a real SQLite store in a temp dir, with a fake clock: no daemon. */
export async function authFixture(o: { prefix?: string; log?: Logger; now?: number } = {}): Promise<AuthFixture> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), o.prefix ?? 'tollgate-auth-'));
  const store = await createSqliteStore(path.join(dir, 'tollgate.db'));
  await store.migrate();
  const clock = new FakeClock(o.now ?? Date.UTC(2026, 5, 1));
  const auth = new AuthService({ store, clock, log: o.log ?? nullLogger, clusterName: 'example.test', publicWebAddr: { host: 'proxy.example.test', port: 3080 }, maxSessionTtlMs: 30 * 3_600_000, certSourceAddresses: [] });
  await auth.init();
  return {
    dir,
    store,
    clock,
    auth,
    async close() {
      await store.close();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
