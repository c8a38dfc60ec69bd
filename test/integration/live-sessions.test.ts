import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { auditEvents } from '../helpers/audit.js';
import { PASSWORD, startCluster, type Cluster } from '../helpers/cluster.js';
import { postJson } from '../helpers/https.js';
import { cli, ROOT, tmpDir, waitFor, type RunResult } from '../helpers/proc.js';
import { shq, TmuxSession } from '../helpers/tmux.js';

interface LiveRow {
  id: string;
  user: string;
  login: string;
  kind: string;
  participants: Array<{ user: string; mode: string }>;
  idle_seconds: number;
}

/**
 * Issue 17: running sessions listed, watched (tsh join in a real terminal), access rules and
 * audit, ended by tctl, and a late join after 50 MB of output.
 */
describe('live sessions', () => {
  let c: Cluster;
  let work: string;
  const homes: Record<string, string> = {};
  const panes: TmuxSession[] = [];

  /** A user with their own tsh profile, logged in at the real prompt. */
  async function addUser(name: string, roles: string): Promise<void> {
    const add = JSON.parse((await c.daemon.tctl(['users', 'add', name, name, `--roles=${roles}`, '--format=json'])).stdout) as { token: string };
    expect((await postJson(c.daemon.webPort, `/webapi/invites/${add.token}`, { password: PASSWORD })).status).toBe(200);
    const home = path.join(work, name);
    const t = await TmuxSession.start(`cd ${shq(ROOT)} && env TELEPORT_HOME=${shq(home)} ${shq(process.execPath)} bin/tsh login --proxy=127.0.0.1:${c.daemon.webPort} --insecure --user=${name}`);
    try {
      await t.waitFor('Enter password');
      await t.type(PASSWORD);
      expect((await t.exit()).code).toBe(0);
    } finally {
      await t.kill();
    }
    homes[name] = home;
  }

  const envFor = (user: string) => (user === 'joe' ? c.env : { ...c.env, TELEPORT_HOME: homes[user]! });
  const tshAs = (user: string, args: string[]): Promise<RunResult> => cli('tsh', args, { env: envFor(user), timeoutMs: 30_000 });
  /** A tsh command in its own terminal, as `user`. */
  async function pane(user: string, args: string): Promise<TmuxSession> {
    const t = await TmuxSession.start(`cd ${shq(ROOT)} && env TELEPORT_HOME=${shq(user === 'joe' ? c.home : homes[user]!)} SSH_AUTH_SOCK=${shq(c.agent.socket)} ${shq(process.execPath)} bin/tsh ${args}`, { width: 100, height: 30 });
    panes.push(t);
    return t;
  }
  const liveAs = async (user: string): Promise<LiveRow[]> => {
    const r = await tshAs(user, ['sessions', 'ls', '--format=json']);
    expect(r.code, r.stderr).toBe(0);
    return JSON.parse(r.stdout) as LiveRow[];
  };
  /**
   * How long tsh takes to start, connect and hear back from the proxy (a join of an unknown id):
   * the part of a join's time to first paint that is tsh's own start (Node, oclif, ssh2), not the
   * paint. The acceptance figures (1 s) are measured on top of it, on a machine others share.
   */
  async function tshStartMs(): Promise<number> {
    const t0 = Date.now();
    const r = await tshAs('joe', ['join', '00000000-0000-4000-8000-000000000000']);
    expect(r.stderr).toContain('no active session');
    return Date.now() - t0;
  }
  const lastCounter = (screen: string) => Math.max(0, ...[...screen.matchAll(/counter-(\d+)/g)].map((m) => Number(m[1])));
  const counterSession = () => pane('joe', `ssh -t --port=${c.sshd.port} root@127.0.0.1 'i=0; while :; do i=$((i+1)); echo counter-$i; sleep 0.2; done'`);
  async function activeId(): Promise<string> {
    let id = '';
    await waitFor(async () => {
      id = (await liveAs('joe')).find((s) => s.kind === 'exec')?.id ?? '';
      return id !== '';
    }, 'the session to be listed');
    return id;
  }

  beforeAll(async () => {
    c = await startCluster();
    work = tmpDir('tollgate-live-');
    await addUser('alice', 'access');
    await addUser('audrey', 'access,auditor');
  }, 120_000);
  afterAll(async () => {
    for (const p of panes) await p.kill();
    await c?.stop();
    if (work) fs.rmSync(work, { recursive: true, force: true });
  });

  it('1: tsh sessions ls lists the session; tsh join paints the current counter within 1 s, follows it, and an observer\'s keys never reach it', async () => {
    const session = await counterSession();
    await session.waitFor('counter-3');
    const id = await activeId();
    const rows = await liveAs('joe');
    expect(rows.find((r) => r.id === id)).toMatchObject({ user: 'joe', login: 'root', kind: 'exec', participants: [] });
    const text = await tshAs('joe', ['sessions', 'ls']);
    expect(text.stdout).toMatch(/ID\s+User\s+Login\s+Node\s+Kind\s+Started\s+Idle\s+Participants/);
    expect(text.stdout).toContain(id);

    const startMs = await tshStartMs();
    const before = lastCounter(await session.screen());
    const t0 = Date.now();
    const observer = await pane('joe', `join ${id}`);
    let seen = 0;
    await waitFor(async () => (seen = lastCounter(await observer.screen())) >= before, 'the observer to show the current counter', 10_000);
    const paintMs = Date.now() - t0;
    console.log(`tsh join: counter-${seen} on screen ${paintMs} ms after starting tsh (session was at counter-${before}); tsh alone: ${startMs} ms`);
    expect(paintMs - startMs).toBeLessThan(1000);
    expect(paintMs).toBeLessThan(3000);
    // Follows: later counters arrive.
    await observer.waitFor(`counter-${seen + 5}`);
    // The session's own user sees who joined.
    await session.waitFor('joe joined as observer');

    // Keys typed in the observer's terminal: the node's terminal would echo them if they arrived.
    await observer.send('xyzzy-typed');
    await observer.type('');
    await observer.waitFor(`counter-${lastCounter(await observer.screen()) + 5}`);
    expect(await session.screen()).not.toContain('xyzzy');
    expect(await observer.screen()).not.toContain('xyzzy');

    // Ctrl-] detaches; the session goes on.
    await observer.sendKey('C-]');
    expect((await observer.exit()).code).toBe(0);
    const after = lastCounter(await session.screen());
    await session.waitFor(`counter-${after + 3}`);
    await session.waitFor('joe left');
    const events = await auditEvents(c.daemon, ['session.join', 'session.leave']);
    expect(events.filter((e) => e.fields.sid === id).map((e) => [e.event, e.user, e.fields.mode]).sort()).toEqual([
      ['session.join', 'joe', 'observer'],
      ['session.leave', 'joe', 'observer'],
    ]);
    await session.sendKey('C-c');
    await session.exit();
  });

  it('3: an access user cannot join another user\'s session (clear message, audited); an auditor can observe but not type', async () => {
    const session = await counterSession();
    await session.waitFor('counter-2');
    const id = await activeId();

    expect((await liveAs('alice')).map((s) => s.id)).not.toContain(id);
    expect((await liveAs('audrey')).map((s) => s.id)).toContain(id);

    const denied = await tshAs('alice', ['join', id]);
    expect(denied.code).not.toBe(0);
    expect(denied.stdout + denied.stderr).toContain("access denied: session belongs to joe; only auditors may observe other users' sessions");
    const peer = await tshAs('audrey', ['join', '--mode=peer', id]);
    expect(peer.code).not.toBe(0);
    expect(peer.stdout + peer.stderr).toContain('only its own user may join it as a peer');
    const refusals = (await auditEvents(c.daemon, ['session.access_denied'])).filter((e) => e.fields.sid === id);
    expect(refusals.map((e) => e.user).sort()).toEqual(['alice', 'audrey']);

    const auditor = await pane('audrey', `join ${id}`);
    const n = lastCounter(await session.screen());
    await auditor.waitFor(`counter-${n + 2}`);
    await session.waitFor('audrey joined as observer');
    expect((await liveAs('joe')).find((s) => s.id === id)?.participants).toEqual([{ user: 'audrey', mode: 'observer' }]);
    const joins = (await auditEvents(c.daemon, ['session.join'])).filter((e) => e.fields.sid === id);
    expect(joins.map((e) => [e.user, e.fields.owner, e.fields.mode])).toEqual([['audrey', 'joe', 'observer']]);
    await auditor.send('q');
    expect((await auditor.exit()).code).toBe(0);
    await waitFor(async () => (await auditEvents(c.daemon, ['session.leave'])).some((e) => e.fields.sid === id && e.user === 'audrey'), 'session.leave for audrey');
    await session.sendKey('C-c');
    await session.exit();
  });

  it('4: tctl sessions end ID --message ends the session within 2 s; the client and observers see the message', async () => {
    const session = await counterSession();
    await session.waitFor('counter-2');
    const id = await activeId();
    const auditor = await pane('audrey', `join ${id}`);
    await session.waitFor('audrey joined as observer');
    const active = await c.daemon.tctl(['sessions', 'ls', '--active', '--format=json']);
    expect((JSON.parse(active.stdout) as LiveRow[]).find((s) => s.id === id)?.participants).toEqual([{ user: 'audrey', mode: 'observer' }]);

    const t0 = Date.now();
    const r = await c.daemon.tctl(['sessions', 'end', id, '--message', 'maintenance']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(`session ${id} ended`);
    const ended = await session.exit(5_000);
    expect(Date.now() - t0).toBeLessThan(2_000);
    expect(ended.screen).toContain('tollgate: the session was ended by an administrator: maintenance');
    expect(ended.code).not.toBe(0);
    const watched = await auditor.exit(5_000);
    expect(watched.screen).toContain('tollgate: the session was ended by an administrator: maintenance');
    const end = (await auditEvents(c.daemon, ['session.end'])).find((e) => e.fields.sid === id);
    expect(end?.fields.reason).toBe('ended by tctl: maintenance');
    expect((await liveAs('joe')).map((s) => s.id)).not.toContain(id);
    const again = await c.daemon.tctl(['sessions', 'end', id]);
    expect(again.code).not.toBe(0);
    expect(again.stderr).toContain('has already ended');
  });

  it('peer: the session\'s own user joins with --mode=peer; their keys reach the session and are recorded as theirs', async () => {
    const session = await pane('joe', `ssh --port=${c.sshd.port} root@127.0.0.1`);
    await session.type('echo shell-ready-$((1+1))');
    await session.waitFor('shell-ready-2');
    let id = '';
    await waitFor(async () => (id = (await liveAs('joe')).find((s) => s.kind === 'shell')?.id ?? '') !== '', 'the shell to be listed');
    const peer = await pane('joe', `join --mode=peer ${id}`);
    await peer.waitFor('shell-ready-2');
    await peer.type('echo typed-by-peer-$((40+2))');
    await session.waitFor('typed-by-peer-42');
    await peer.waitFor('typed-by-peer-42');
    await peer.sendKey('C-]');
    expect((await peer.exit()).code).toBe(0);
    await session.type('exit');
    expect((await session.exit()).code).toBe(0);
    const cast = fs.readFileSync(path.join(c.daemon.dataDir, 'recordings', `${id}.cast`), 'utf8');
    expect(cast).toMatch(/"m","input from joe \(peer\): \d+ bytes"/);
  });

  it('5: the web UI, logged in as an auditor, shows the live session updating in headless Chromium', async () => {
    const session = await counterSession();
    await session.waitFor('counter-2');
    const id = await activeId();
    const { launchBrowser } = await import('../helpers/browser.js');
    const browser = await launchBrowser();
    try {
      const page = await (await browser.newContext({ ignoreHTTPSErrors: true })).newPage();
      const errors: string[] = [];
      page.on('console', (m) => m.type() === 'error' && errors.push(m.text()));
      const base = `https://127.0.0.1:${c.daemon.webPort}`;
      await page.goto(`${base}/web/login`);
      await page.fill('#user', 'audrey');
      await page.fill('#password', PASSWORD);
      await page.click('#submit');
      await page.waitForURL(`${base}/web/sessions`);
      expect(await page.locator(`#sessions tr:has(a[href="/web/sessions/${id}"]) .live`).textContent()).toBe('live');
      await page.click(`a[href="/web/sessions/${id}"]`);
      await page.waitForSelector('#live');
      const counterOnPage = async () => lastCounter((await page.locator('#player').textContent()) ?? '');
      let first = 0;
      await waitFor(async () => (first = await counterOnPage()) > 0, 'the player to show a counter', 10_000);
      await waitFor(async () => (await counterOnPage()) >= first + 5, 'the player to follow the session', 10_000);
      // Close to the session itself (the same current screen, then live events).
      expect(lastCounter(await session.screen()) - (await counterOnPage())).toBeLessThanOrEqual(5);
      expect(errors.filter((e) => /Content Security Policy|Refused/.test(e))).toEqual([]);
      const joins = (await auditEvents(c.daemon, ['session.join'])).filter((e) => e.fields.sid === id);
      expect(joins.map((e) => [e.user, e.fields.via])).toEqual([['audrey', 'web']]);

      // The auditors' button ends it; the page's player and the client show the message.
      await page.fill('#end-message', 'web maintenance');
      await page.click('#end');
      const ended = await session.exit(5_000);
      expect(ended.screen).toContain('tollgate: the session was ended by an administrator: web maintenance');
    } finally {
      await browser.close();
    }
    // alice (access) cannot watch joe's session over the web API either.
    const other = await counterSession();
    await other.waitFor('counter-2');
    const id2 = await activeId();
    const { httpsRequest } = await import('../helpers/https.js');
    const { token } = JSON.parse(fs.readFileSync(path.join(homes.alice!, '127.0.0.1.json'), 'utf8')) as { token: string };
    const refused = await httpsRequest(c.daemon.webPort, 'GET', `/webapi/sessions/${id2}/live`, undefined, { authorization: `Bearer ${token}` });
    expect(refused.status).toBe(403);
    expect(refused.text).toContain('access denied');
    expect((await auditEvents(c.daemon, ['session.access_denied'])).some((e) => e.user === 'alice' && e.fields.sid === id2)).toBe(true);
    await other.sendKey('C-c');
    await other.exit();
  });

  it('2: joining after the session printed 50 MB paints the current screen in under 1 s', async () => {
    // Not in tmux: 50 MB through a visible terminal would measure tmux. -t still gives it a PTY.
    const session = await pane('joe', `ssh -t --port=${c.sshd.port} root@127.0.0.1 'head -c 37500000 /dev/urandom | base64 -w 120; echo; echo screen-after-50MB; sleep 60' > /dev/null`);
    const id = await activeId();
    await waitFor(async () => ((await liveAs('joe')).find((s) => s.id === id)?.idle_seconds ?? 0) >= 2, 'the 50 MB to be printed', 60_000);
    const startMs = await tshStartMs();
    const t0 = Date.now();
    const observer = await pane('joe', `join ${id}`);
    await observer.waitFor('screen-after-50MB', 10_000);
    const paintMs = Date.now() - t0;
    console.log(`tsh join after 50 MB: current screen painted ${paintMs} ms after starting tsh; tsh alone: ${startMs} ms`);
    expect(paintMs - startMs).toBeLessThan(1000);
    expect(paintMs).toBeLessThan(3000);
    expect(await c.daemon.tctl(['sessions', 'end', id])).toMatchObject({ code: 0 });
    await observer.exit(5_000);
    await session.exit(5_000);
    const rec = JSON.parse((await c.daemon.tctl(['sessions', 'ls', '--format=json'])).stdout) as Array<{ id: string; bytes_out: number }>;
    expect(rec.find((s) => s.id === id)!.bytes_out).toBeGreaterThan(50_000_000);
  });
});
