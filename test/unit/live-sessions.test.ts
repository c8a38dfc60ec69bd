import { describe, expect, it } from 'vitest';
import { nullLogger } from '../../src/lib/log.js';
import { endedByAdminLine, joinRefusal, LiveSessions, type Viewer } from '../../src/lib/proxy/live/index.js';
import type { LiveSessionControls, TapEvent } from '../../src/lib/proxy/session/index.js';
import { joinKeys } from '../../src/lib/ssh-client/index.js';
import type { UserRecord } from '../../src/lib/store/index.js';

const user = (name: string, roles: UserRecord['roles']): UserRecord => ({ name, roles, logins: [name], passwordHash: null, otpSecret: null, createdAt: 0, lockedUntil: null, nodeLabels: null }) as unknown as UserRecord;

function viewer(name: string, mode: 'observer' | 'peer' = 'observer') {
  const got: string[] = [];
  const v: Viewer & { got: string[]; ended?: string } = {
    user: name,
    mode,
    got,
    paint: (p) => got.push(`paint:${p.cols}x${p.rows}:${p.paint.includes('before') ? 'before' : ''}`),
    event: (e: TapEvent) => got.push(e.type === 'output' ? `out:${e.data.toString()}` : e.type),
    status: (line) => got.push(`status:${line}`),
    end: (line) => (v.ended = line),
  };
  return v;
}

function session(maxViewers = 4) {
  const live = new LiveSessions({ log: nullLogger, now: () => 1000, maxViewers });
  const s = live.begin({ id: 'sid', user: 'joe', login: 'root', node: 'n:22', kind: 'shell', startedAt: 0, pty: { cols: 80, rows: 24 } });
  const calls: string[] = [];
  const controls: LiveSessionControls = {
    stop: (reason, line) => calls.push(`stop:${reason}|${line}`),
    input: (data, who) => calls.push(`input:${who}:${data.toString()}`),
    notify: (line) => calls.push(`notify:${line}`),
  };
  s.started(controls);
  return { live, s, calls };
}

describe('who may join a session (joinRefusal)', () => {
  it('own sessions: observe and peer; auditors: observe anyone\'s; nobody types into another user\'s', () => {
    expect(joinRefusal(user('joe', ['access']), 'joe', 'observer')).toBeUndefined();
    expect(joinRefusal(user('joe', ['access']), 'joe', 'peer')).toBeUndefined();
    expect(joinRefusal(user('alice', ['access']), 'joe', 'observer')).toMatch(/only auditors/);
    expect(joinRefusal(user('audrey', ['access', 'auditor']), 'joe', 'observer')).toBeUndefined();
    expect(joinRefusal(user('audrey', ['access', 'auditor']), 'joe', 'peer')).toMatch(/only its own user/);
    expect(joinRefusal(undefined, 'joe', 'observer')).toMatch(/no longer exists/);
  });
});

describe('tsh join keys (joinKeys)', () => {
  it('an observer sends nothing and detaches on q or Ctrl-]; a peer sends everything before Ctrl-]', () => {
    expect(joinKeys(Buffer.from('ls\r'), 'observer')).toEqual({ detach: false, send: undefined });
    expect(joinKeys(Buffer.from('q'), 'observer').detach).toBe(true);
    expect(joinKeys(Buffer.from([0x1d]), 'observer').detach).toBe(true);
    expect(joinKeys(Buffer.from('quit\r'), 'peer')).toEqual({ detach: false, send: Buffer.from('quit\r') });
    expect(joinKeys(Buffer.from([0x61, 0x1d, 0x62]), 'peer')).toEqual({ detach: true, send: Buffer.from('a') });
  });
});

describe('a live session (registry, viewers, end)', () => {
  it('a viewer gets the screen as of its join, then every later event in order', async () => {
    const { s, calls } = session();
    s.deliver([{ type: 'output', data: Buffer.from('before\r\n') }]);
    const v = viewer('audrey');
    const pending = s.attach(v);
    // Delivered while the snapshot is taken: held, then passed on after the paint.
    s.deliver([{ type: 'output', data: Buffer.from('during') }]);
    const r = await pending;
    expect(typeof r).toBe('object');
    s.deliver([{ type: 'output', data: Buffer.from('after') }, { type: 'input', data: Buffer.from('x') }]);
    expect(v.got).toEqual(['paint:80x24:before', 'out:during', 'out:after']);
    expect(calls).toContain('notify:audrey joined as observer');
    expect(s.info.participants.map((p) => `${p.user}/${p.mode}`)).toEqual(['audrey/observer']);
  });

  it('an observer\'s input is dropped; a peer\'s goes to the session tagged with the participant', async () => {
    const { s, calls } = session();
    const o = await s.attach(viewer('audrey'));
    const p = await s.attach(viewer('joe', 'peer'));
    if (typeof o === 'string' || typeof p === 'string') throw new Error('refused');
    o.input(Buffer.from('rm -rf /\r'));
    p.input(Buffer.from('ls\r'));
    expect(calls.filter((c) => c.startsWith('input'))).toEqual(['input:joe:ls\r']);
    p.detach();
    expect(calls).toContain('notify:joe left');
    expect(s.info.participants.map((x) => x.user)).toEqual(['audrey']);
  });

  it('at most maxViewers; end() stops the session with the message every viewer then sees', async () => {
    const { live, s, calls } = session(1);
    const v = viewer('audrey');
    await s.attach(v);
    expect(await s.attach(viewer('auditor2'))).toMatch(/already has 1 participants/);
    expect(s.end('maintenance', 'tctl')).toBe(true);
    expect(calls).toContain(`stop:ended by tctl: maintenance|${endedByAdminLine('maintenance')}`);
    s.close({ exitStatus: null, exitSignal: null, reason: 'ended by tctl: maintenance' });
    expect(v.ended).toBe('tollgate: the session was ended by an administrator: maintenance');
    expect(live.get('sid')).toBeUndefined();
    expect(live.list()).toEqual([]);
    expect(await s.attach(viewer('late'))).toBe('the session has ended');
  });
});
