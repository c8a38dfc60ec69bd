import { defaultKeysFile } from '../../src/lib/config/index.js';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AuthService } from '../../src/lib/auth/auth-service.js';
import { fileKeySource } from '../../src/lib/auth/sealed-keys.js';
import { systemClock } from '../../src/lib/clock.js';
import { nullLogger } from '../../src/lib/log.js';
import { createSqliteStore } from '../../src/lib/store/sqlite.js';
import type { Store } from '../../src/lib/store/types.js';
import { startDaemon, type TestDaemon } from '../helpers/daemon.js';

/** Acceptance 5 and 6: users and signup tokens through tctl; restart keeps users and CAs. */
describe('tctl users', () => {
  let daemon: TestDaemon;
  let store: Store;
  let auth: AuthService;

  beforeAll(async () => {
    daemon = await startDaemon({ yaml: 'auth_service:\n  cluster_name: example.test\nproxy_service:\n  public_addr: proxy.example.test:3080\n' });
    // The signup page (next issue) redeems tokens through AuthService; here the test does, over the daemon's own store.
    store = await createSqliteStore(path.join(daemon.dataDir, 'tollgate.db'));
    auth = new AuthService({ store, clock: systemClock, log: nullLogger, clusterName: 'example.test', publicWebAddr: { host: 'x', port: 1 }, maxSessionTtlMs: 1e9, certSourceAddresses: [], keys: fileKeySource(defaultKeysFile(daemon.dataDir)) });
    await auth.init();
  });

  afterAll(async () => {
    await store?.close();
    await daemon?.stop();
  });

  it('users add prints a signup URL whose token is single use', async () => {
    const r = await daemon.tctl(['users', 'add', 'joe', 'joe,root,ec2-user']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^User "joe" has been created but requires a password\. .*link is valid for 1h/);
    const m = /https:\/\/proxy\.example\.test:3080\/web\/invite\/([0-9a-f]{64})/.exec(r.stdout);
    expect(m).not.toBeNull();
    const token = m![1]!;
    expect((await auth.redeemSignupToken(token)).user).toBe('joe');
    await expect(auth.redeemSignupToken(token)).rejects.toThrow(/already been used/);
  });

  it('users ls shows joe with the three logins (text and json)', async () => {
    const text = await daemon.tctl(['users', 'ls']);
    expect(text.stdout).toMatch(/^joe\s+joe,root,ec2-user\s+access\s+\*\s+pending\s/m);
    const json = JSON.parse((await daemon.tctl(['users', 'ls', '--format=json'])).stdout) as Array<Record<string, unknown>>;
    expect(json).toEqual([expect.objectContaining({ id: 'joe', name: 'joe', logins: ['joe', 'root', 'ec2-user'], roles: ['access'] })]);
  });

  it('a signup token expires (--ttl=1s)', async () => {
    const r = await daemon.tctl(['users', 'add', 'amy', 'amy', '--ttl=1s', '--format=json']);
    expect(r.code, r.stderr).toBe(0);
    const { token, expires_at } = JSON.parse(r.stdout) as { token: string; expires_at: string };
    await new Promise((res) => setTimeout(res, Math.max(0, Date.parse(expires_at) - Date.now()) + 100));
    await expect(auth.redeemSignupToken(token)).rejects.toThrow(/expired/);
  });

  it('users reset issues a new link and voids the old one; users rm deletes', async () => {
    const first = JSON.parse((await daemon.tctl(['users', 'add', 'bob', 'bob', '--format=json'])).stdout) as { token: string };
    const reset = await daemon.tctl(['users', 'reset', 'bob']);
    expect(reset.code, reset.stderr).toBe(0);
    const token = /invite\/([0-9a-f]{64})/.exec(reset.stdout)![1]!;
    await expect(auth.redeemSignupToken(first.token)).rejects.toThrow(/not valid/);
    expect((await auth.redeemSignupToken(token)).user).toBe('bob');
    const rm = await daemon.tctl(['users', 'rm', 'bob']);
    expect(rm.stdout.trim()).toBe('User "bob" has been deleted');
    const again = await daemon.tctl(['users', 'rm', 'bob']);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/^ERROR: user "bob" not found/);
    const events = JSON.parse((await daemon.tctl(['events', 'ls', '--user=bob', '--format=json'])).stdout) as Array<{ event: string }>;
    expect(events.map((e) => e.event)).toEqual(['user.delete', 'user.reset', 'user.create']);
  });

  it('restart keeps users and CAs', async () => {
    const before = await Promise.all([daemon.tctl(['auth', 'export', '--type=user']), daemon.tctl(['auth', 'export', '--type=host'])]);
    await daemon.stop();
    expect(daemon.process.exitCode).toBe(0);
    expect(daemon.process.output).toMatch(/stopping signal=SIGTERM[\s\S]*stopped/);
    expect(fs.existsSync(path.join(daemon.dataDir, 'admin.sock'))).toBe(false);
    daemon = await startDaemon({ dataDir: daemon.dataDir, yaml: fs.readFileSync(daemon.configFile, 'utf8') });
    expect(daemon.process.output).not.toMatch(/created the (user|host) certificate authority/);
    const after = await Promise.all([daemon.tctl(['auth', 'export', '--type=user']), daemon.tctl(['auth', 'export', '--type=host'])]);
    expect(after[0].stdout).toBe(before[0].stdout);
    expect(after[1].stdout).toBe(before[1].stdout);
    expect((await daemon.tctl(['users', 'ls'])).stdout).toMatch(/^joe\s+joe,root,ec2-user/m);
  });

  it('SIGINT stops the daemon cleanly too', async () => {
    const code = await daemon.process.stop('SIGINT');
    expect(code).toBe(0);
    expect(daemon.process.output).toMatch(/stopping signal=SIGINT/);
  });
});
