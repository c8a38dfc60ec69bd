import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AuthService } from '../../src/lib/auth/auth-service.js';
import { LoginService } from '../../src/lib/auth/login-service.js';
import { generateEd25519, parseCertificate, parsePublicKeyLine, publicKeyLine } from '../../src/lib/ca/index.js';
import { FakeClock } from '../../src/lib/clock.js';
import { TollgateError } from '../../src/lib/errors.js';
import { decodeReply, routePath, type JsonRoute, type RouteArgs, type RouteOutput } from '../../src/lib/api/route-table.js';
import { nullLogger } from '../../src/lib/log.js';
import { RecordingService } from '../../src/lib/recording/session-recorder.js';
import { LocalDirStorage } from '../../src/lib/recording/storage.js';
import type { Store } from '../../src/lib/store/types.js';
import { webApiRoutes } from '../../src/lib/api/web-routes.js';
import { createWebApp } from '../../src/lib/web/web-app.js';
import { authFixture, type AuthFixture } from '../helpers/auth-fixture.js';
import { sessionRow } from '../helpers/sessions.js';

const PASSWORD = 'correct horse battery staple';

describe('web API (in-process)', () => {
  let dir: string;
  let store: Store;
  let clock: FakeClock;
  let auth: AuthService;
  let storage: LocalDirStorage;
  let app: ReturnType<typeof createWebApp>;
  let f: AuthFixture;

  beforeEach(async () => {
    f = await authFixture({ prefix: 'tollgate-web-app-' });
    ({ dir, store, clock, auth } = f);
    const login = new LoginService({ auth, store, clock, log: nullLogger, secondFactor: 'off', maxSessionTtlMs: 30 * 3_600_000 });
    storage = new LocalDirStorage(path.join(dir, 'recordings'));
    fs.mkdirSync(storage.dir, { mode: 0o700 });
    const recordings = new RecordingService({ store, storage, serverId: crypto.randomUUID(), auditor: auth.auditor, clock, maxExecRecordingSize: 1 << 20, recordInput: false, log: nullLogger });
    app = createWebApp({ auth, login, log: nullLogger, version: '9.9.9', sshListenAddr: '0.0.0.0:3023', sshPublicAddr: undefined, publicWebAddr: 'proxy.example.test:3080', sessions: { store, recordings } });
    for (const [name, roles] of [['joe', 'access'], ['ann', 'auditor'], ['bob', 'access']] as const) {
      const invite = await auth.createUser({ name, logins: name, roles });
      await login.completeSignup(invite.token, PASSWORD, undefined, 'test');
    }
  });
  afterEach(async () => {
    await f.close();
  });

  /** Calls a route of the table as WebClient would; a success must match the route's response schema. */
  async function call<R extends JsonRoute>(route: R, token: string | undefined, ...[input]: RouteArgs<R>) {
    const i = (input ?? {}) as { params?: Record<string, unknown>; query?: Record<string, unknown>; body?: unknown };
    const headers: Record<string, string> = {};
    if (token) headers.authorization = `Bearer ${token}`;
    if (i.body !== undefined) headers['content-type'] = 'application/json';
    const res = await app.request(routePath(route, i), { method: route.method, headers, ...(i.body === undefined ? {} : { body: JSON.stringify(i.body) }) });
    const json: unknown = await res.json();
    return { status: res.status, json, data: res.status < 400 ? (route.response.parse(json) as RouteOutput<R>) : undefined };
  }
  const loginAs = async (user: string) => {
    const r = await call(webApiRoutes.login, undefined, { body: { user, password: PASSWORD, pub_key: publicKeyLine(generateEd25519().publicBlob) } });
    expect(r.status).toBe(200);
    return r.data!.token;
  };
  const events = (type: string) => auth.listEvents({ types: [type], limit: 100 });

  it('ping', async () => {
    const r = await call(webApiRoutes.ping, undefined);
    expect(r.status).toBe(200);
    expect(r.data).toEqual({
      cluster_name: 'example.test',
      server_version: '9.9.9',
      auth: { type: 'local', second_factor: 'off' },
      proxy: { ssh: { listen_addr: '0.0.0.0:3023' } },
      host_ca: auth.exportCA('host', 'known-hosts', '*'),
      recording_signers: auth.exportRecordingKey(),
    });
  });

  it('login with a password: a certificate for the key sent, and a bearer token', async () => {
    const key = generateEd25519();
    const r = await call(webApiRoutes.login, undefined, { body: { user: 'joe', password: PASSWORD, pub_key: publicKeyLine(key.publicBlob), ttl_seconds: 3600 } });
    expect(r.status).toBe(200);
    expect(r.data).toMatchObject({ user: 'joe', logins: ['joe'], valid_before: '2026-06-01T01:00:00.000Z', token: expect.stringMatching(/^\S{32,}$/) });
    const cert = parseCertificate(parsePublicKeyLine(r.data!.cert).blob);
    expect(cert).toMatchObject({ type: 'user', keyId: 'joe', principals: ['joe'] });
    expect((await call(webApiRoutes.listSessions, r.data!.token)).status).toBe(200);
    expect((await events('user.login'))[0]!.fields).toMatchObject({ success: true });
  });

  it('login failures: wrong password 403, audited; malformed body 400', async () => {
    const pub = publicKeyLine(generateEd25519().publicBlob);
    const wrong = await call(webApiRoutes.login, undefined, { body: { user: 'joe', password: 'not the password', pub_key: pub } });
    expect(wrong.status).toBe(403);
    expect(wrong.json).toEqual({ error: { kind: 'access-denied', message: 'invalid credentials', hint: 'check the user name, password and authenticator code' } });
    expect((await events('user.login'))[0]!.fields).toMatchObject({ success: false, reason: 'wrong password' });
    const missing = await app.request('/webapi/ssh/certs', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ user: 'joe', pub_key: pub }) });
    expect(missing.status).toBe(400);
    expect(await missing.json()).toEqual({ error: { kind: 'bad-parameter', message: expect.stringMatching(/^invalid request: password: /) } });
    const form = await app.request('/webapi/ssh/certs', { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'user=joe' });
    expect(await form.json()).toEqual({ error: { kind: 'bad-parameter', message: 'send the request body as application/json' } });
    expect(await events('cert.create')).toHaveLength(0);
  });

  it('without a token (or with a dead one) the sessions API refuses', async () => {
    // 403 access-denied, as the API always answered it (test/integration/proxy.test.ts asserts it).
    const none = await call(webApiRoutes.listSessions, undefined);
    expect(none).toMatchObject({ status: 403, json: { error: { kind: 'access-denied', message: 'log in first', hint: 'tsh login --proxy=HOST' } } });
    const dead = await call(webApiRoutes.getSession, 'f'.repeat(64), { params: { id: crypto.randomUUID() } });
    expect(dead).toMatchObject({ status: 403, json: { error: { message: 'your session has expired' } } });
    const stream = await app.request(`/webapi/sessions/${crypto.randomUUID()}/stream`);
    expect(stream.status).toBe(403);
  });

  describe('sessions', () => {
    // After the users were created (the fixture's clock): a user owns only sessions from after its creation.
    const t0 = Date.UTC(2026, 5, 2);
    let rows: ReturnType<typeof sessionRow>[];
    beforeEach(async () => {
      rows = [sessionRow('joe', t0), sessionRow('ann', t0 + 1000), sessionRow('bob', t0 + 2000), sessionRow('joe', t0 + 86_400_000 * 3)];
      for (const r of rows) await store.createSession(r);
    });

    it('access users see their own; asking for others is refused and audited', async () => {
      const joe = await loginAs('joe');
      const own = await call(webApiRoutes.listSessions, joe);
      expect(own.data!.map((s) => s.id)).toEqual([rows[3]!.id, rows[0]!.id]);
      expect((await call(webApiRoutes.listSessions, joe, { query: { user: 'joe', to: '2026-06-03' } })).data!.map((s) => s.id)).toEqual([rows[0]!.id]);

      const others = await call(webApiRoutes.listSessions, joe, { query: { user: 'ann' } });
      expect(others).toMatchObject({ status: 403, json: { error: { kind: 'access-denied', message: 'access denied: sessions of ann' } } });
      const one = await call(webApiRoutes.getSession, joe, { params: { id: rows[1]!.id } });
      expect(one).toMatchObject({ status: 403, json: { error: { message: `access denied: session ${rows[1]!.id} of ann` } } });
      const denied = await events('session.access_denied');
      expect(denied.map((e) => [e.user, e.fields.what])).toEqual([
        ['joe', `session ${rows[1]!.id} of ann`],
        ['joe', 'sessions of ann'],
      ]);
      expect((await call(webApiRoutes.getSession, joe, { params: { id: rows[0]!.id } })).data).toMatchObject({ id: rows[0]!.id, user: 'joe' });
      expect((await call(webApiRoutes.getSession, joe, { params: { id: crypto.randomUUID() } })).status).toBe(404);
    });

    it('auditors see everyone\'s, filtered by user and dates; bad filters are 400', async () => {
      const ann = await loginAs('ann');
      expect((await call(webApiRoutes.listSessions, ann)).data!.map((s) => s.user)).toEqual(['joe', 'bob', 'ann', 'joe']);
      expect((await call(webApiRoutes.listSessions, ann, { query: { user: 'bob' } })).data!.map((s) => s.id)).toEqual([rows[2]!.id]);
      expect((await call(webApiRoutes.listSessions, ann, { query: { from: '2026-06-03' } })).data!.map((s) => s.id)).toEqual([rows[3]!.id]);
      expect((await call(webApiRoutes.getSession, ann, { params: { id: rows[2]!.id } })).status).toBe(200);
      expect(await events('session.access_denied')).toHaveLength(0);
      const badDate = await call(webApiRoutes.listSessions, ann, { query: { from: 'yesterday' } });
      expect(badDate).toMatchObject({ status: 400, json: { error: { message: 'from "yesterday" is not a date', hint: expect.stringMatching(/ISO date/) } } });
      expect((await call(webApiRoutes.listSessions, ann, { query: { limit: 0 } })).json).toMatchObject({ error: { message: 'limit must be between 1 and 10000' } });
    });

    it('search: the listing\'s rule (access: own, auditor: all), offsets as tsh play --from takes them, paging, 400 without a query', async () => {
      for (const [i, r] of rows.entries()) await store.indexSessionLines(r.id, [{ seq: 0, offsetMs: 92_345 + i, text: `deploy ${r.user} needle-42` }]);
      const joe = await loginAs('joe');
      const mine = await call(webApiRoutes.searchSessions, joe, { query: { q: 'needle-42' } });
      expect(mine.status).toBe(200);
      expect(mine.data!.map((h) => h.id).sort()).toEqual([rows[0]!.id, rows[3]!.id].sort());
      expect(mine.data!.find((h) => h.id === rows[0]!.id)).toMatchObject({ user: 'joe', login: 'joe', node: 'node1:22', offset: '1m32.345s', offset_ms: 92_345, line: 'deploy joe needle-42', before: null, after: null });
      expect((await call(webApiRoutes.searchSessions, joe, { query: { q: 'needle-42', user: 'ann' } })).status).toBe(403);
      const ann = await loginAs('ann');
      expect((await call(webApiRoutes.searchSessions, ann, { query: { q: 'needle-42' } })).data).toHaveLength(4);
      expect((await call(webApiRoutes.searchSessions, ann, { query: { q: 'deploy bob' } })).data!.map((h) => h.id)).toEqual([rows[2]!.id]);
      const page2 = await call(webApiRoutes.searchSessions, ann, { query: { q: 'needle-42', limit: 3, skip: 3 } });
      expect(page2.data).toHaveLength(1);
      expect((await call(webApiRoutes.searchSessions, ann, { query: { q: '' } })).status).toBe(400);
      expect((await call(webApiRoutes.searchSessions, ann, { query: { q: '--' } })).status).toBe(400);
    });

    it('stream: the recording as asciicast, audited as a replay; someone else\'s is refused', async () => {
      const cast = '{"version":2,"width":80,"height":24}\n[0.5,"o","hello\\r\\n"]\n';
      fs.writeFileSync(storage.localPath(rows[0]!.id), cast);
      const joe = await loginAs('joe');
      const res = await app.request(`/webapi/sessions/${rows[0]!.id}/stream`, { headers: { authorization: `Bearer ${joe}` } });
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toBe(webApiRoutes.streamSession.response.rawContentType);
      expect(res.headers.get('cache-control')).toBe('no-store');
      expect(await res.text()).toBe(cast);
      expect((await events('session.replay'))[0]).toMatchObject({ user: 'joe', fields: { sid: rows[0]!.id, owner: 'joe' } });

      const bob = await loginAs('bob');
      const refused = await app.request(`/webapi/sessions/${rows[0]!.id}/stream`, { headers: { authorization: `Bearer ${bob}` } });
      expect(refused.status).toBe(403);
      expect((await events('session.access_denied'))[0]).toMatchObject({ user: 'bob' });
      const gone = await app.request(`/webapi/sessions/${rows[1]!.id}/stream`, { headers: { authorization: `Bearer ${await loginAs('ann')}` } });
      expect(gone.status).toBe(404);

      const integrity = await call(webApiRoutes.sessionIntegrity, joe, { params: { id: rows[0]!.id } });
      expect(integrity.data).toEqual({ chain: null, sig: null });
    });

    it('web UI: someone else\'s recording page is "not found", and the refusal is audited', async () => {
      const bob = await loginAs('bob');
      const page = (id: string) => app.request(`/web/sessions/${id}`, { headers: { cookie: `tg_session=${bob}` } });
      const refused = await page(rows[0]!.id);
      expect(refused.status).toBe(404);
      expect(await refused.text()).toMatch(/There is no recording [0-9a-f-]+ that you may see/);
      const denied = await events('session.access_denied');
      expect(denied).toHaveLength(1);
      expect(denied[0]).toMatchObject({ user: 'bob', fields: { what: `session ${rows[0]!.id} of joe` } });
      // A missing recording reads the same, and is not a refusal.
      expect((await page(crypto.randomUUID())).status).toBe(404);
      expect(await events('session.access_denied')).toHaveLength(1);
      const own = await page(rows[2]!.id);
      expect(own.status).toBe(200);
      expect(await own.text()).toContain(`/webapi/sessions/${rows[2]!.id}/stream`);
    });
  });

  it('the client refuses a malformed proxy answer with a clear TollgateError', () => {
    const bad = () => decodeReply(webApiRoutes.listSessions, [{ id: 'x', user: 'joe' }], 'the proxy at p:3080', { kind: 'unavailable' });
    expect(bad).toThrow(TollgateError);
    expect(bad).toThrow(/^the proxy at p:3080 sent an unexpected answer to GET \/webapi\/sessions at 0\.login: /);
    expect(() => decodeReply(webApiRoutes.ping, '<html>', 'the proxy', { kind: 'unavailable' })).toThrow(/unexpected answer to GET \/webapi\/ping: /);
  });
});
