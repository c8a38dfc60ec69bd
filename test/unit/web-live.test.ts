import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LoginService } from '../../src/lib/auth/login-service.js';
import { generateEd25519, publicKeyLine } from '../../src/lib/ca/index.js';
import { nullLogger } from '../../src/lib/log.js';
import { LiveDirectory, LiveSessions } from '../../src/lib/proxy/live/index.js';
import { RecordingService } from '../../src/lib/recording/session-recorder.js';
import { LocalDirStorage } from '../../src/lib/recording/storage.js';
import { createWebApp } from '../../src/lib/web/web-app.js';
import { authFixture, type AuthFixture } from '../helpers/auth-fixture.js';

const PASSWORD = 'correct horse battery staple';

/** The web API's live sessions (in-process: the real registry and directory, no SSH). */
describe('web API: running sessions', () => {
  let f: AuthFixture;
  let app: ReturnType<typeof createWebApp>;
  let live: LiveSessions;
  let directory: LiveDirectory;

  beforeEach(async () => {
    f = await authFixture({ prefix: 'tollgate-web-live-' });
    const { store, clock, auth, dir } = f;
    const login = new LoginService({ auth, store, clock, log: nullLogger, secondFactor: 'off', maxSessionTtlMs: 30 * 3_600_000 });
    const storage = new LocalDirStorage(path.join(dir, 'recordings'));
    fs.mkdirSync(storage.dir, { mode: 0o700 });
    const recordings = new RecordingService({ store, storage, serverId: crypto.randomUUID(), auditor: auth.auditor, clock, maxExecRecordingSize: 1 << 20, recordInput: false, log: nullLogger });
    live = new LiveSessions({ log: nullLogger, now: () => clock.now().getTime(), maxViewers: 4 });
    directory = new LiveDirectory({ live, store, serverId: 'this', now: () => clock.now().getTime(), log: nullLogger, auditor: auth.auditor });
    app = createWebApp({ auth, login, log: nullLogger, version: '9.9.9', sshListenAddr: '0.0.0.0:3023', sshPublicAddr: undefined, publicWebAddr: 'proxy.example.test:3080', sessions: { store, recordings, live: directory } });
    for (const [name, roles] of [['joe', 'access'], ['ann', 'auditor'], ['bob', 'access']] as const) {
      const invite = await auth.createUser({ name, logins: name, roles });
      await login.completeSignup(invite.token, PASSWORD, undefined, 'test');
    }
  });
  afterEach(() => f.close());

  const tokenOf = async (user: string): Promise<string> => {
    const res = await app.request('/webapi/ssh/certs', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ user, password: PASSWORD, pub_key: publicKeyLine(generateEd25519().publicBlob) }) });
    return ((await res.json()) as { token: string }).token;
  };
  const get = async (p: string, user: string) => app.request(p, { headers: { authorization: `Bearer ${await tokenOf(user)}` } });
  const startSession = () => {
    const s = live.begin({ id: crypto.randomUUID(), user: 'joe', login: 'root', node: 'n:22', kind: 'shell', startedAt: 0, pty: { cols: 80, rows: 24 } });
    s.started({ stop: () => undefined, input: () => undefined, notify: () => undefined });
    return s;
  };

  it('GET /webapi/sessions/active: own sessions for access users, everyone\'s for auditors', async () => {
    const s = startSession();
    const ids = async (user: string) => ((await (await get('/webapi/sessions/active', user)).json()) as Array<{ id: string }>).map((r) => r.id);
    expect(await ids('joe')).toEqual([s.info.id]);
    expect(await ids('ann')).toEqual([s.info.id]);
    expect(await ids('bob')).toEqual([]);
  });

  it('GET /webapi/sessions/:id/live: refused (and audited) for another access user; server-sent events for an auditor', async () => {
    const s = startSession();
    s.deliver([{ type: 'output', data: Buffer.from('before-join\r\n') }]);
    const refused = await get(`/webapi/sessions/${s.info.id}/live`, 'bob');
    expect(refused.status).toBe(403);
    expect((await f.auth.listEvents({ types: ['session.access_denied'], limit: 10 })).map((e) => [e.user, e.fields.sid])).toEqual([['bob', s.info.id]]);

    const res = await get(`/webapi/sessions/${s.info.id}/live`, 'ann');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
    const reader = res.body!.getReader();
    const dec = new TextDecoder();
    let text = '';
    const until = async (needle: string) => {
      while (!text.includes(needle)) {
        const { value, done } = await reader.read();
        if (done) throw new Error(`stream ended before ${needle}: ${text}`);
        text += dec.decode(value);
      }
    };
    await until('\n\n');
    const first = JSON.parse(text.slice('data: '.length, text.indexOf('\n\n'))) as { cols: number; rows: number; init: string };
    expect(first).toMatchObject({ cols: 80, rows: 24 });
    expect(first.init).toContain('before-join');
    s.deliver([{ type: 'output', data: Buffer.from('after-join') }]);
    await until('after-join');
    expect(text).toMatch(/data: \[[\d.]+,"o","after-join"\]/);
    s.close({ exitStatus: 0, exitSignal: null, reason: 'exit' });
    await until('"state":"offline"');
    expect((await f.auth.listEvents({ types: ['session.join'], limit: 10 })).map((e) => [e.user, e.fields.via])).toEqual([['ann', 'web']]);
  });
});
