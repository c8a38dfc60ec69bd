import { Duplex, PassThrough } from 'node:stream';
import type * as Ssh2 from 'ssh2';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { nullLogger } from '../../src/lib/log.js';
import { LiveSessions, serveJoin, VIEWER_BUFFER_BYTES } from '../../src/lib/proxy/live/index.js';
import type { Identity } from '../../src/lib/proxy/session/index.js';
import type { UserRecord } from '../../src/lib/store/index.js';
import { authFixture, type AuthFixture } from '../helpers/auth-fixture.js';

/** A viewer's SSH channel whose client never reads: writes pile up in its buffer. */
class StuckChannel extends Duplex {
  readonly stderr = new PassThrough();
  stderrText = '';
  constructor() {
    super({ allowHalfOpen: true });
    this.stderr.on('data', (d: Buffer) => (this.stderrText += d.toString()));
  }
  override _write(_chunk: Buffer, _enc: BufferEncoding, _cb: () => void): void {
    // never acknowledged: the client's SSH window stays full
  }
  override _read(): void {}
  exit(): void {}
}

describe('tsh join on the proxy (serveJoin)', () => {
  let f: AuthFixture;
  beforeEach(async () => {
    f = await authFixture({ prefix: 'tollgate-live-join-' });
  });
  afterEach(() => f.close());

  const who = (user: string): Identity => ({ user, clientAddr: '127.0.0.1', cert: {} as Identity['cert'] });
  const users: Record<string, UserRecord> = {
    joe: { name: 'joe', roles: ['access'] } as unknown as UserRecord,
    ann: { name: 'ann', roles: ['auditor'] } as unknown as UserRecord,
  };

  it('a viewer that stops reading is disconnected past its bound; the session and other viewers go on', async () => {
    const live = new LiveSessions({ log: nullLogger, now: () => 0, maxViewers: 4 });
    const s = live.begin({ id: 'sid', user: 'joe', login: 'root', node: 'n:22', kind: 'exec', startedAt: 0 });
    s.started({ stop: () => undefined, input: () => undefined, notify: () => undefined });
    const deps = { live, auditor: f.auth.auditor, log: nullLogger, lookupUser: async (n: string) => users[n] };
    const stuck = new StuckChannel();
    await serveJoin(stuck as unknown as Ssh2.ServerChannel, who('ann'), { id: 'sid', mode: 'observer' }, deps);
    expect(s.info.participants.map((p) => p.user)).toEqual(['ann']);
    const chunk = Buffer.alloc(64 * 1024, 0x61);
    const t0 = performance.now();
    for (let i = 0; i * chunk.length <= VIEWER_BUFFER_BYTES + chunk.length; i++) s.deliver([{ type: 'output', data: chunk }]);
    // Delivering never waited for the viewer.
    expect(performance.now() - t0).toBeLessThan(500);
    await new Promise((r) => setImmediate(r));
    expect(stuck.stderrText).toContain('you fell behind the session');
    expect(s.info.participants).toEqual([]);
    expect(live.get('sid')).toBe(s);
  });

  it('a revoked, expired or locked certificate joins nothing, not even its own session; audited', async () => {
    const live = new LiveSessions({ log: nullLogger, now: () => 0, maxViewers: 4 });
    const s = live.begin({ id: 'sid', user: 'joe', login: 'root', node: 'n:22', kind: 'exec', startedAt: 0 });
    s.started({ stop: () => undefined, input: () => undefined, notify: () => undefined });
    const checkIdentity = async () => "your certificate was issued before joe's credentials were reset; run tsh login";
    const deps = { live, auditor: f.auth.auditor, log: nullLogger, lookupUser: async (n: string) => users[n], checkIdentity };
    const ch = new StuckChannel();
    await serveJoin(ch as unknown as Ssh2.ServerChannel, who('joe'), { id: 'sid', mode: 'peer' }, deps);
    await new Promise((r) => setImmediate(r));
    expect(ch.stderrText).toContain("tollgate: access denied: your certificate was issued before joe's credentials were reset");
    expect(s.info.participants).toEqual([]);
    const denied = await f.store.listEvents({ types: ['session.access_denied'] });
    expect(denied[0]).toMatchObject({ user: 'joe', fields: { sid: 'sid', reason: expect.stringContaining('credentials were reset') } });
  });

  it('an unknown session and a refused join are one clear line each; the refusal is audited', async () => {
    const live = new LiveSessions({ log: nullLogger, now: () => 0, maxViewers: 4 });
    const s = live.begin({ id: 'sid', user: 'ann', login: 'root', node: 'n:22', kind: 'exec', startedAt: 0 });
    s.started({ stop: () => undefined, input: () => undefined, notify: () => undefined });
    const deps = { live, auditor: f.auth.auditor, log: nullLogger, lookupUser: async (n: string) => users[n] };
    const none = new StuckChannel();
    await serveJoin(none as unknown as Ssh2.ServerChannel, who('joe'), { id: 'nope', mode: 'observer' }, deps);
    expect(none.stderrText).toBe('tollgate: no active session nope (see tsh sessions ls)\r\n');
    const denied = new StuckChannel();
    await serveJoin(denied as unknown as Ssh2.ServerChannel, who('joe'), { id: 'sid', mode: 'observer' }, deps);
    expect(denied.stderrText).toBe("tollgate: access denied: session belongs to ann; only auditors may observe other users' sessions\r\n");
    const ev = await f.auth.listEvents({ types: ['session.access_denied'], limit: 10 });
    expect(ev.map((e) => [e.user, e.fields.sid, e.fields.owner])).toEqual([['joe', 'sid', 'ann']]);
  });
});
