import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { castEvents, PASSWORD, sessions, startCluster, tshLogin, type Cluster } from '../helpers/cluster.js';
import { postJson } from '../helpers/https.js';
import { cli, ROOT, tmpDir, waitFor } from '../helpers/proc.js';
import { shq, TmuxSession } from '../helpers/tmux.js';

interface Hit {
  id: string;
  user: string;
  login: string;
  node: string;
  offset: string;
  offset_ms: number;
  line: string;
  before: string | null;
  after: string | null;
}

/**
 * Issue 18's acceptance, with real sshd, a real bash in tmux through `tsh ssh -t`, and sudo's own
 * password prompt (record_input is off, the default).
 */
describe('search inside recordings and the command log', () => {
  let c: Cluster;
  let sid: string;
  const homes: Record<string, string> = {};
  const SECRET = 'hunter2-SeCrEt-pw';

  const as = (user: string, args: string[]) => cli('tsh', args, { env: { ...process.env, TELEPORT_HOME: homes[user]!, SSH_AUTH_SOCK: c.agent.socket } });
  const search = async (user: string, query: string, extra: string[] = []): Promise<Hit[]> => {
    const r = await as(user, ['recordings', 'search', query, '--format=json', ...extra]);
    expect(r.code, r.stderr).toBe(0);
    return JSON.parse(r.stdout) as Hit[];
  };

  beforeAll(async () => {
    c = await startCluster();
    homes.joe = c.home;
    const work = tmpDir('tollgate-search-');
    for (const [user, roles] of [
      ['bob', 'access'],
      ['amy', 'auditor'],
    ] as const) {
      const add = await c.daemon.tctl(['users', 'add', user, user, `--roles=${roles}`, '--format=json']);
      expect(add.code, add.stderr).toBe(0);
      const { token } = JSON.parse(add.stdout) as { token: string };
      expect((await postJson(c.daemon.webPort, `/webapi/invites/${token}`, { password: PASSWORD })).status).toBe(200);
      homes[user] = path.join(work, user);
      await tshLogin({ webPort: c.daemon.webPort, home: homes[user]!, user });
    }

    // joe's interactive session: a typo fixed with backspace, then sudo's password prompt.
    const t = await TmuxSession.start(
      `cd ${shq(ROOT)} && env TELEPORT_HOME=${shq(c.home)} SSH_AUTH_SOCK=${shq(c.agent.socket)} ${shq(process.execPath)} bin/tsh ssh -t --port=${c.sshd.port} root@127.0.0.1`,
      { width: 100, height: 30 },
    );
    try {
      // Keys typed before the shell's prompt are typeahead, which the command log cannot place (README).
      await t.waitFor(/# $/m);
      await t.type('PS1="prompt-$ "');
      await t.waitFor(/prompt-\$ $/m);
      await t.send('echo needle-$((40+2X');
      await t.keys('BSpace');
      // The echo of "))" is on screen before Enter: typed with it, the echo and the command's
      // output can reach the proxy in one read under load (CI), one .cast event, and playing from
      // the hit would then start with "))".
      await t.send('))');
      await t.waitFor(/needle-\$\(\(40\+2\)\)$/m);
      await t.keys('Enter');
      await t.waitFor(/^needle-42$/m);
      // sudo prompts `nobody` (not root) for a password, with echo off; the password is wrong.
      await t.type('su -s /bin/bash nobody');
      // nobody's own prompt, on the line after the echoed command: /\$ $/ alone also matched the
      // old "prompt-$ " line before the echo arrived, and sudo's keys were then typeahead (CI).
      await t.waitFor(/su -s \/bin\/bash nobody\n[^\n]*\$ $/m);
      await t.type('sudo -k true');
      await t.waitFor('password for nobody');
      await t.type(SECRET);
      await t.waitFor(/Sorry, try again|not in the sudoers|incorrect password/);
      await t.keys('C-c');
      await t.waitFor(/^\S*\$ $/m);
      await t.type('exit');
      await t.waitFor(/prompt-\$ $/m);
      await t.type('exit 0');
      expect((await t.exit()).code).toBe(0);
    } finally {
      await t.kill();
    }
    sid = (await sessions(c.daemon)).find((s) => s.kind === 'shell')!.id;
  }, 180_000);

  afterAll(async () => {
    await c?.stop();
  });

  it('1. tsh recordings search finds the line at its offset (±1 s); tsh play --from starts there', async () => {
    let hits: Hit[] = [];
    await waitFor(async () => (hits = await search('joe', 'needle-42')).length > 0, 'the session to be indexed');
    expect(hits).toHaveLength(1);
    const hit = hits[0]!;
    expect(hit).toMatchObject({ id: sid, user: 'joe', login: 'root', node: `127.0.0.1:${c.sshd.port}`, line: 'needle-42' });
    expect(hit.before).toBe('prompt-$ echo needle-$((40+2))');
    // Where the .cast shows it.
    const shown = castEvents(c.daemon, sid).events.find((e) => e[1] === 'o' && e[2].includes('needle-42'))!;
    expect(Math.abs(hit.offset_ms - shown[0] * 1000)).toBeLessThanOrEqual(1000);
    expect(hit.offset).toMatch(/^(\d+m)?\d+(\.\d+)?s$/);
    const play = await as('joe', ['play', sid, `--from=${hit.offset}`, '--format=text']);
    expect(play.code, play.stderr).toBe(0);
    expect(play.stdout.split(/\r?\n/)[0]).toBe('needle-42');
    expect(play.stdout).not.toContain('echo needle');
    // The human form names the session, the offset and the lines around the hit.
    const text = await as('joe', ['recordings', 'search', 'needle-42']);
    expect(text.stdout).toContain(`${sid}  joe as root@127.0.0.1:${c.sshd.port}`);
    expect(text.stdout).toContain('  > needle-42');
    expect(text.stdout).toContain('    prompt-$ echo needle-$((40+2))');
  });

  it('2. tctl events ls --type=session.command lists the command as typed after the edit, with user, node and offset', async () => {
    let events: Array<Record<string, unknown>> = [];
    await waitFor(async () => {
      const r = await c.daemon.tctl(['events', 'ls', '--type=session.command', '--format=json']);
      events = JSON.parse(r.stdout) as Array<Record<string, unknown>>;
      return events.length >= 6;
    }, 'the command events');
    const commands = events.map((e) => e.command).reverse();
    expect(commands).toEqual(['PS1="prompt-$ "', 'echo needle-$((40+2))', 'su -s /bin/bash nobody', 'sudo -k true', 'exit', 'exit 0']);
    const echo = events.find((e) => e.command === 'echo needle-$((40+2))')!;
    expect(echo).toMatchObject({ event: 'session.command', user: 'joe', login: 'root', node: `127.0.0.1:${c.sshd.port}`, sid });
    expect(echo.offset_ms as number).toBeGreaterThan(0);
    const text = await c.daemon.tctl(['events', 'ls', '--type=session.command']);
    expect(text.stdout).toContain('command=echo needle-$((40+2))');
  });

  it('3. search follows the listing rule: access user bob does not find joe\'s session, auditor amy does', async () => {
    expect(await search('bob', 'needle-42')).toEqual([]);
    const denied = await as('bob', ['recordings', 'search', 'needle-42', '--user=joe']);
    expect(denied.code).not.toBe(0);
    expect(denied.stderr).toMatch(/access denied/);
    expect((await search('amy', 'needle-42')).map((h) => h.id)).toEqual([sid]);
    expect((await search('amy', 'needle-42', ['--user=joe', `--node=127.0.0.1`])).map((h) => h.id)).toEqual([sid]);
    expect(await search('amy', 'needle-42', ['--node=elsewhere'])).toEqual([]);
  });

  it('5. the password typed at sudo\'s prompt is in neither the index nor the command log', async () => {
    // The prompt itself is indexed (it was on the screen); what was typed at it is not.
    expect([...new Set((await search('amy', 'password for nobody')).map((h) => h.id))]).toEqual([sid]);
    for (const q of ['hunter2', 'hunter2*', SECRET, 'SeCrEt', 'pw']) expect(await search('amy', q)).toEqual([]);
    const log = await c.daemon.tctl(['events', 'ls', '--limit=1000', '--format=json']);
    expect(log.stdout).not.toContain('hunter2');
    expect(log.stdout).not.toContain('SeCrEt');
  });

  it('tctl recordings reindex rebuilds the same lines from the .cast', async () => {
    const before = await search('amy', 'needle-42');
    const r = await c.daemon.tctl(['recordings', 'reindex', sid, '--format=json']);
    expect(r.code, r.stderr).toBe(0);
    const [result] = JSON.parse(r.stdout) as Array<{ id: string; lines: number }>;
    expect(result).toMatchObject({ id: sid });
    expect(result!.lines).toBeGreaterThan(3);
    const after = await search('amy', 'needle-42');
    expect(after.map((h) => [h.id, h.line, h.before])).toEqual(before.map((h) => [h.id, h.line, h.before]));
    expect(Math.abs(after[0]!.offset_ms - before[0]!.offset_ms)).toBeLessThanOrEqual(5);
    expect(await search('amy', 'hunter2')).toEqual([]);
    const all = await c.daemon.tctl(['recordings', 'reindex']);
    expect(all.code, all.stderr).toBe(0);
    expect(all.stdout).toContain(sid);
  });

  it('the web player opens at #t=OFFSET and lists the session\'s commands as links and seek-bar markers', async () => {
    const [hit] = await search('joe', 'needle-42');
    const { launchBrowser } = await import('../helpers/browser.js');
    const browser = await launchBrowser();
    try {
      const page = await (await browser.newContext({ ignoreHTTPSErrors: true })).newPage();
      const base = `https://127.0.0.1:${c.daemon.webPort}`;
      await page.goto(`${base}/web/login`);
      await page.fill('#user', 'joe');
      await page.fill('#password', PASSWORD);
      await page.click('#submit');
      await page.waitForURL(`${base}/web/sessions`);
      await page.goto(`${base}/web/sessions/${sid}#t=${hit!.offset}`);
      await page.waitForSelector('.ap-player');
      // Opened at the hit: the screen already shows the line, without pressing play.
      await page.waitForFunction(() => document.querySelector('#player')?.textContent?.includes('needle-42'), undefined, { timeout: 15_000 });
      const commands = await page.locator('#commands li').allTextContents();
      expect(commands.some((t) => t.includes('echo needle-$((40+2))'))).toBe(true);
      expect(commands.join('\n')).not.toContain('hunter2');
      expect(await page.locator('.ap-marker-container').count()).toBe(6);
    } finally {
      await browser.close();
    }
  });
});
