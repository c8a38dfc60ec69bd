import path from 'node:path';
import type { AuthService } from '../../src/lib/auth/auth-service.js';
import { authFixture } from './auth-fixture.js';
import { generateEd25519, parseCertificate, publicKeyLine } from '../../src/lib/ca/index.js';
import { FakeClock } from '../../src/lib/clock.js';
import { nullLogger, type Logger } from '../../src/lib/log.js';
import type { Identity } from '../../src/lib/proxy/session/index.js';
import { RecordingService } from '../../src/lib/recording/session-recorder.js';
import { LocalDirStorage } from '../../src/lib/recording/storage.js';
import type { Store } from '../../src/lib/store/types.js';
import type { WriterPool } from '../../src/lib/recording/writer-pool.js';

export interface SessionFixture {
  dir: string;
  store: Store;
  clock: FakeClock;
  auth: AuthService;
  recordings: RecordingService;
  /** joe, allowed the logins joe and root, with a certificate from the user CA. */
  joe: Identity;
  close(): Promise<void>;
}

/**
 * The parts behind a session, in-process: a real SQLite store and recording dir in a temp dir, the
 * auth service with its CAs, the recording service, and a user with a certificate. No daemon.
 */
export async function sessionFixture(o: { log?: Logger; recordInput?: boolean; writers?: WriterPool } = {}): Promise<SessionFixture> {
  const log = o.log ?? nullLogger;
  const base = await authFixture({ prefix: 'tollgate-session-', log, now: Date.now() });
  const { dir, store, clock, auth } = base;
  await auth.createUser({ name: 'joe', logins: 'joe,root' });
  const key = generateEd25519();
  const issued = await auth.signUserCert({ user: 'joe', publicKey: publicKeyLine(key.publicBlob), ttlMs: 3_600_000 });
  const recordings = new RecordingService({
    store,
    storage: new LocalDirStorage(path.join(dir, 'recordings')),
    serverId: 'test-server',
    auditor: auth.auditor,
    clock,
    maxExecRecordingSize: 1024 * 1024,
    recordInput: o.recordInput ?? false,
    signer: auth.recordingSigner,
    ...(o.writers ? { writers: o.writers } : {}),
    log,
  });
  return {
    dir,
    store,
    clock,
    auth,
    recordings,
    joe: { user: 'joe', cert: parseCertificate(issued.blob), clientAddr: '127.0.0.1' },
    async close() {
      await recordings.close();
      await base.close();
    },
  };
}
