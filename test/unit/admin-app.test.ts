import crypto from 'node:crypto';
import http from 'node:http';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AdminClient } from '../../src/lib/client/admin-client.js';
import { createAdminApp, startAdminServer, type AdminServer } from '../../src/lib/admin/admin-server.js';
import { adminRoutes } from '../../src/lib/api/admin-routes.js';
import { AuthService } from '../../src/lib/auth/auth-service.js';
import { NodeInventory } from '../../src/lib/auth/inventory.js';
import { LockService } from '../../src/lib/auth/locks.js';
import { FakeClock } from '../../src/lib/clock.js';
import { nullLogger } from '../../src/lib/log.js';
import { routePath, type JsonRoute, type RouteArgs, type RouteOutput } from '../../src/lib/api/route-table.js';
import { LocalDirStorage } from '../../src/lib/recording/storage.js';
import type { Store } from '../../src/lib/store/types.js';
import { authFixture, type AuthFixture } from '../helpers/auth-fixture.js';
import { sessionRow } from '../helpers/sessions.js';

describe('admin API (in-process)', () => {
  let dir: string;
  let store: Store;
  let clock: FakeClock;
  let auth: AuthService;
  let app: ReturnType<typeof createAdminApp>;
  let f: AuthFixture;

  beforeEach(async () => {
    f = await authFixture({ prefix: 'tollgate-admin-app-' });
    ({ dir, store, clock, auth } = f);
    app = createAdminApp({
      auth, store, log: nullLogger, version: '9.9.9', dataDir: dir, roles: ['auth'], publicWebAddr: 'proxy.example.test:3080', certSourceAddresses: [], startedAt: clock.now(), sessionRecording: 'proxy',
      recordings: new LocalDirStorage(path.join(dir, 'recordings')),
      inventory: new NodeInventory({ store, auth, clock, log: nullLogger }),
      allowUnregisteredNodes: true,
      locks: new LockService({ auth, store, clock }),
      webTlsPin: () => 'sha256:' + '0'.repeat(64),
    });
  });
  afterEach(() => f.close());

  /** Calls a route of the table as AdminClient would, and checks a success against its response schema. */
  async function call<R extends JsonRoute>(route: R, ...[input]: RouteArgs<R>) {
    const i = (input ?? {}) as { params?: Record<string, unknown>; query?: Record<string, unknown>; body?: unknown };
    const res = await app.request(routePath(route, i), {
      method: route.method,
      ...(i.body === undefined ? {} : { body: JSON.stringify(i.body), headers: { 'content-type': 'application/json' } }),
    });
    const json: unknown = await res.json();
    return {
      status: res.status,
      json,
      data: res.status < 400 ? (route.response.parse(json) as RouteOutput<R>) : undefined,
      error: res.status >= 400 ? (json as { error: { kind: string; message: string; hint?: string } }).error : undefined,
    };
  }
  const raw = (method: string, url: string, body?: string) => app.request(url, { method, ...(body === undefined ? {} : { body, headers: { 'content-type': 'application/json' } }) });

  it('users add, ls, reset, rm', async () => {
    const added = await call(adminRoutes.addUser, { body: { name: 'joe', logins: 'joe,root', roles: 'access,auditor', ttl_ms: 3_600_000 } });
    expect(added.status).toBe(201);
    expect(added.data).toMatchObject({ user: 'joe', url: expect.stringMatching(/^https:\/\/proxy\.example\.test:3080\/web\/invite\/[0-9a-f]{64}$/), ttl_ms: 3_600_000, expires_at: '2026-06-01T01:00:00.000Z' });

    const ls = await call(adminRoutes.listUsers);
    expect(ls.status).toBe(200);
    expect(ls.data).toEqual([{ name: 'joe', logins: ['joe', 'root'], roles: ['access', 'auditor'], created_at: '2026-06-01T00:00:00.000Z', status: 'pending', node_labels: '*' }]);

    const reset = await call(adminRoutes.resetUser, { params: { name: 'joe' }, body: { ttl_ms: 60_000 } });
    expect(reset.status).toBe(200);
    expect(reset.data!.token).not.toBe(added.data!.token);
    expect(reset.data!.ttl_ms).toBe(60_000);

    const rm = await call(adminRoutes.deleteUser, { params: { name: 'joe' } });
    expect(rm).toMatchObject({ status: 200, data: { deleted: 'joe' } });
    expect((await call(adminRoutes.listUsers)).data).toEqual([]);
  });

  it('locks: add (audited lock.created), ls, rm (lock.deleted); bad targets are 400; the KRL names a locked user', async () => {
    await call(adminRoutes.addUser, { body: { name: 'joe', logins: 'root' } });
    const added = await call(adminRoutes.addLock, { body: { kind: 'user', target: 'joe', message: 'incident 42', ttl_ms: 3_600_000 } });
    expect(added).toMatchObject({ status: 201, data: { kind: 'user', target: 'joe', message: 'incident 42', created_by: 'tctl', expires_at: '2026-06-01T01:00:00.000Z' } });
    expect((await call(adminRoutes.addLock, { body: { kind: 'session', target: 'not-a-uuid' } })).status).toBe(400);
    expect((await call(adminRoutes.addLock, { body: { kind: 'node', target: 'a b' } })).status).toBe(400);
    expect((await call(adminRoutes.listLocks)).data!.map((l) => l.id)).toEqual([added.data!.id]);
    const krl = await call(adminRoutes.exportKrl);
    expect(krl.data).toMatchObject({ key_ids: 1, serials: 0, proxy_only: 0 });
    expect(Buffer.from(krl.data!.krl, 'base64').subarray(0, 8).toString('hex')).toBe('5353484b524c0a00');
    clock.advance(3_600_000);
    expect((await call(adminRoutes.listLocks)).data).toEqual([]);
    expect(await call(adminRoutes.deleteLock, { params: { id: added.data!.id } })).toMatchObject({ status: 200 });
    expect((await call(adminRoutes.deleteLock, { params: { id: added.data!.id } })).status).toBe(404);
    const events = (await store.listEvents({ types: ['lock.created', 'lock.deleted'] })).map((e) => [e.event, e.fields.target]);
    expect(events).toEqual([['lock.deleted', 'user=joe'], ['lock.created', 'user=joe']]);
  });

  it('users unlock clears a web lockout and keeps the password; reset refuses certificates issued before it', async () => {
    await call(adminRoutes.addUser, { body: { name: 'joe', logins: 'root' } });
    await store.updateUser('joe', { passwordHash: 'kept', lockedUntil: clock.now().getTime() + 60_000 });
    expect((await call(adminRoutes.listUsers)).data![0]!.status).toBe('locked');
    expect(await call(adminRoutes.unlockUser, { params: { name: 'joe' } })).toMatchObject({ status: 200, data: { unlocked: 'joe' } });
    expect(await store.getUser('joe')).toMatchObject({ passwordHash: 'kept', lockedUntil: null });
    expect((await call(adminRoutes.unlockUser, { params: { name: 'nobody' } })).status).toBe(404);
    await call(adminRoutes.resetUser, { params: { name: 'joe' }, body: {} });
    expect((await store.getUser('joe'))!.credentialsResetAt).toBe(clock.now().getTime());
  });

  it('an unknown user is 404 with the error JSON', async () => {
    const rm = await call(adminRoutes.deleteUser, { params: { name: 'ghost' } });
    expect(rm.status).toBe(404);
    expect(rm.json).toEqual({ error: { kind: 'not-found', message: 'user "ghost" not found', hint: 'see tctl users ls' } });
    expect((await call(adminRoutes.resetUser, { params: { name: 'ghost' }, body: {} })).status).toBe(404);
    expect((await call(adminRoutes.getSession, { params: { id: crypto.randomUUID() } })).json).toMatchObject({ error: { kind: 'not-found' } });
  });

  it('a bad request body is 400 with the error JSON, and changes nothing', async () => {
    const missing = await raw('POST', '/v1/users', JSON.stringify({ name: 'joe' }));
    expect(missing.status).toBe(400);
    expect(await missing.json()).toEqual({ error: { kind: 'bad-parameter', message: expect.stringMatching(/^invalid request: logins: /) } });
    const extra = await raw('POST', '/v1/users', JSON.stringify({ name: 'joe', logins: 'joe', admin: true }));
    expect(extra.status).toBe(400);
    expect(((await extra.json()) as { error: { message: string } }).error.message).toMatch(/^invalid request: body: .*admin/);
    const garbage = await raw('POST', '/v1/users', '{"name":');
    expect(await garbage.json()).toEqual({ error: { kind: 'bad-parameter', message: 'request body is not valid JSON' } });
    const badTtl = await raw('POST', '/v1/users/joe/reset', JSON.stringify({ ttl_ms: -5 }));
    expect(badTtl.status).toBe(400);
    // Refused by the auth service itself (after validation): same envelope.
    const badName = await call(adminRoutes.addUser, { body: { name: 'bad name', logins: 'root' } });
    expect(badName).toMatchObject({ status: 400, json: { error: { kind: 'bad-parameter', message: expect.stringMatching(/invalid user name/) } } });
    expect((await call(adminRoutes.listUsers)).data).toEqual([]);
  });

  it('auth export: user, host and recording keys; unknown type or format is 400 with a hint', async () => {
    const user = await call(adminRoutes.exportCa, { params: { type: 'user' } });
    expect(user.data!.line).toBe(auth.exportCA('user', 'openssh'));
    expect(user.data!.line).toMatch(/^ssh-ed25519 AAAA\S+/);
    const host = await call(adminRoutes.exportCa, { params: { type: 'host' }, query: { format: 'known-hosts', host_pattern: '*.example.com' } });
    expect(host.data!.line).toMatch(/^@cert-authority \*\.example\.com ssh-ed25519 /);
    expect((await call(adminRoutes.exportCa, { params: { type: 'recording' } })).data!.line).toBe(auth.exportRecordingKey());
    // The OpenSSH CA: a bare line like the user CA's, and a different key (users never hold its certificates).
    const openssh = (await call(adminRoutes.exportCa, { params: { type: 'openssh' } })).data!.line;
    expect(openssh).toMatch(/^ssh-ed25519 AAAA\S+$/);
    expect(openssh).not.toBe(user.data!.line);

    const bogus = await raw('GET', '/v1/cas/bogus');
    expect(bogus.status).toBe(400);
    expect(await bogus.json()).toEqual({ error: { kind: 'bad-parameter', message: 'unknown CA type "bogus"', hint: 'valid types: user, host, openssh, recording' } });
    const format = await raw('GET', '/v1/cas/user?format=pem');
    expect(await format.json()).toEqual({ error: { kind: 'bad-parameter', message: 'unknown format "pem"', hint: 'valid formats: openssh, authorized-keys, known-hosts' } });
  });

  it('nodes add, ls, rm; join tokens; users update with node labels', async () => {
    const added = await call(adminRoutes.addNode, { body: { name: 'node1', addr: '10.0.0.5', labels: 'env=staging,team=db' } });
    expect(added.status).toBe(201);
    expect(added.data).toMatchObject({ name: 'node1', addr: '10.0.0.5:22', labels: { env: 'staging', team: 'db' }, added_by: 'tctl' });
    expect((await call(adminRoutes.addNode, { body: { name: 'node1', addr: '10.0.0.6' } })).error).toMatchObject({ kind: 'already-exists', hint: 'remove it first with tctl nodes rm node1' });
    expect((await call(adminRoutes.addNode, { body: { name: 'bad name', addr: '10.0.0.6' } })).error).toMatchObject({ kind: 'bad-parameter' });
    expect((await call(adminRoutes.addNode, { body: { name: 'n2', addr: '10.0.0.6', labels: 'env' } })).error).toMatchObject({ kind: 'bad-parameter' });
    expect((await call(adminRoutes.listNodes)).data!.map((n) => n.name)).toEqual(['node1']);
    const status = (await call(adminRoutes.status)).data!;
    expect(status.nodes).toEqual([{ name: 'node1', addr: '10.0.0.5:22', mode: 'agentless', joined: false }]);
    expect(status.unregistered_nodes).toBe('legacy');

    const token = (await call(adminRoutes.addToken, { body: { type: 'node', ttl_ms: 60_000 } })).data!;
    expect(token).toMatchObject({ type: 'node', ttl_ms: 60_000, proxy: 'proxy.example.test:3080', ca_pin: `sha256:${'0'.repeat(64)}` });
    expect(token.token).toMatch(/^[0-9a-f]{48}$/);
    // Only its hash is stored.
    expect(JSON.stringify(await store.listJoinTokens())).not.toContain(token.token);
    expect((await call(adminRoutes.addToken, { body: { type: 'node', ttl_ms: 48 * 3_600_000 } })).error).toMatchObject({ kind: 'bad-parameter' });

    await call(adminRoutes.addUser, { body: { name: 'joe', logins: 'joe,root' } });
    expect((await call(adminRoutes.listUsers)).data![0]!.node_labels).toBe('*');
    const updated = await call(adminRoutes.updateUser, { params: { name: 'joe' }, body: { node_labels: 'env=staging,env=dev' } });
    expect(updated.data).toMatchObject({ name: 'joe', node_labels: 'env=staging,env=dev', logins: ['joe', 'root'] });
    expect((await store.getUser('joe'))!.nodeLabels).toEqual({ env: ['staging', 'dev'] });
    expect((await call(adminRoutes.updateUser, { params: { name: 'nobody' }, body: { logins: 'x' } })).error).toMatchObject({ kind: 'not-found' });
    expect((await call(adminRoutes.updateUser, { params: { name: 'joe' }, body: {} })).error).toMatchObject({ kind: 'bad-parameter' });

    expect((await call(adminRoutes.deleteNode, { params: { name: 'node1' } })).data).toEqual({ deleted: 'node1' });
    expect((await call(adminRoutes.deleteNode, { params: { name: 'node1' } })).error).toMatchObject({ kind: 'not-found' });
    const events = (await store.listEvents({ limit: 50 })).map((e) => e.event);
    for (const e of ['node.create', 'node.delete', 'join_token.create', 'user.update']) expect(events).toContain(e);
  });

  it('status', async () => {
    await auth.createUser({ name: 'joe', logins: 'joe' });
    const s = await call(adminRoutes.status);
    expect(s.status).toBe(200);
    expect(s.data).toMatchObject({
      cluster_name: 'example.test', version: '9.9.9', data_dir: dir, roles: ['auth'], started_at: '2026-06-01T00:00:00.000Z', users: 1, certs_pinned: false, cert_source_addresses: [], public_web_addr: 'proxy.example.test:3080',
      user_ca: { fingerprint: expect.stringMatching(/^SHA256:/), public_key: auth.exportCA('user', 'openssh') },
    });
  });

  it('events ls: filters by type and user; a bad limit is 400', async () => {
    await auth.createUser({ name: 'joe', logins: 'joe' });
    await auth.createUser({ name: 'amy', logins: 'amy' });
    await auth.deleteUser('amy');
    const all = await call(adminRoutes.listEvents, { query: { limit: 10 } });
    expect(all.data!.map((e) => e.event)).toEqual(expect.arrayContaining(['user.create', 'user.delete']));
    const joe = await call(adminRoutes.listEvents, { query: { type: 'user.create,user.delete', user: 'joe' } });
    expect(joe.data).toHaveLength(1);
    expect(joe.data![0]).toMatchObject({ event: 'user.create', user: 'joe', time: '2026-06-01T00:00:00.000Z', id: expect.any(String) });
    const deletes = await call(adminRoutes.listEvents, { query: { type: 'user.delete' } });
    expect(deletes.data!.map((e) => e.user)).toEqual(['amy']);
    for (const limit of ['0', '10001', 'x', '']) {
      const r = await raw('GET', `/v1/events?limit=${limit}`);
      expect(r.status).toBe(400);
      expect(await r.json()).toEqual({ error: { kind: 'bad-parameter', message: 'limit must be between 1 and 10000' } });
    }
  });

  it('sessions ls and get', async () => {
    const t = clock.now().getTime();
    const rows = [sessionRow('joe', t - 3_000_000), sessionRow('amy', t - 2_000_000), sessionRow('joe', t - 1_000_000, { endedAt: null, endReason: null, exitStatus: null })];
    for (const r of rows) await store.createSession(r);
    const all = await call(adminRoutes.listSessions);
    expect(all.data!.map((s) => s.id)).toEqual([rows[2]!.id, rows[1]!.id, rows[0]!.id]);
    expect(all.data![0]).toMatchObject({ user: 'joe', ended_at: null, exit_status: null, node: 'node1:22', started_at: new Date(t - 1_000_000).toISOString() });
    expect((await call(adminRoutes.listSessions, { query: { user: 'joe', limit: 1 } })).data!.map((s) => s.id)).toEqual([rows[2]!.id]);
    const one = await call(adminRoutes.getSession, { params: { id: rows[1]!.id } });
    expect(one.data).toMatchObject({ id: rows[1]!.id, user: 'amy', bytes_in: 10, bytes_out: 20, exit_status: 0 });
    expect((await call(adminRoutes.verifyRecording, { params: { id: rows[1]!.id } })).json).toMatchObject({ error: { kind: 'not-found', message: expect.stringMatching(/missing from storage/) } });
  });

  it('an unknown endpoint is 404 JSON', async () => {
    const r = await raw('GET', '/v1/nothing');
    expect(r.status).toBe(404);
    expect(await r.json()).toEqual({ error: { kind: 'not-found', message: 'no admin endpoint GET /v1/nothing' } });
  });

  describe('AdminClient over the Unix socket', () => {
    let server: AdminServer | undefined;
    let fake: http.Server | undefined;
    afterEach(async () => {
      await server?.close();
      await new Promise<void>((resolve) => (fake ? fake.close(() => resolve()) : resolve()));
      server = undefined;
      fake = undefined;
    });

    it('calls typed routes and re-raises the daemon errors with their kind and hint', async () => {
      const socket = path.join(dir, 'admin.sock');
      server = await startAdminServer(socket, {
        auth, store, log: nullLogger, version: '9.9.9', dataDir: dir, roles: ['auth'], publicWebAddr: 'proxy.example.test:3080', certSourceAddresses: [], startedAt: clock.now(), sessionRecording: 'proxy',
        recordings: new LocalDirStorage(path.join(dir, 'recordings')),
        inventory: new NodeInventory({ store, auth, clock, log: nullLogger }),
        allowUnregisteredNodes: true,
        locks: new LockService({ auth, store, clock }),
        webTlsPin: () => 'sha256:' + '0'.repeat(64),
      });
      const client = new AdminClient(socket);
      const invite = await client.call(adminRoutes.addUser, { body: { name: 'joe', logins: ['joe'] } });
      expect(invite.user).toBe('joe');
      expect((await client.call(adminRoutes.listUsers)).map((u) => u.name)).toEqual(['joe']);
      expect((await client.call(adminRoutes.listEvents, { query: { type: 'user.create', limit: 5 } }))[0]).toMatchObject({ event: 'user.create', user: 'joe', logins: ['joe'] });
      await expect(client.call(adminRoutes.deleteUser, { params: { name: 'gh ost' } })).rejects.toMatchObject({ kind: 'not-found', message: 'user "gh ost" not found', hint: 'see tctl users ls' });
    });

    it('a malformed answer is a TollgateError naming the field, not a crash later', async () => {
      const socket = path.join(dir, 'fake.sock');
      fake = http.createServer((_req, res) => res.end(JSON.stringify([{ name: 'joe', logins: 'joe' }])));
      await new Promise<void>((resolve) => fake!.listen(socket, resolve));
      await expect(new AdminClient(socket).call(adminRoutes.listUsers)).rejects.toMatchObject({
        name: 'TollgateError',
        kind: 'internal',
        message: expect.stringMatching(/^the auth service sent an unexpected answer to GET \/v1\/users at 0\.logins: /),
      });
    });
  });
});
