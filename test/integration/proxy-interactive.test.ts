import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { castEvents, sessions, startCluster, type Cluster } from '../helpers/cluster.js';
import { ROOT, run, waitFor } from '../helpers/proc.js';
import { shq, TmuxSession } from '../helpers/tmux.js';

/** Interactive sessions in a real terminal: resize, asciinema, and a daemon killed mid-session. */
describe('interactive tsh ssh', () => {
  let c: Cluster;

  beforeAll(async () => {
    c = await startCluster();
  });
  afterAll(async () => {
    await c?.stop();
  });

  const tshInTmux = () =>
    TmuxSession.start(
      `cd ${shq(ROOT)} && env TELEPORT_HOME=${shq(c.home)} SSH_AUTH_SOCK=${shq(c.agent.socket)} ${shq(process.execPath)} bin/tsh ssh --port=${c.sshd.port} root@127.0.0.1`,
      { width: 100, height: 30 },
    );

  it('records output and resize events; asciinema cat prints the session', async () => {
    const t = await tshInTmux();
    let id: string;
    try {
      await t.type('echo interactive-marker-$((6*7))');
      await t.waitFor('interactive-marker-42');
      await t.resize(120, 40);
      await t.type('stty size');
      await t.waitFor('40 120');
      await t.type('exit');
      const { code } = await t.exit();
      expect(code).toBe(0);
    } finally {
      await t.kill();
    }
    const s = (await sessions(c.daemon)).find((x) => x.kind === 'shell')!;
    expect(s).toMatchObject({ user: 'joe', login: 'root', exitStatus: 0 });
    id = s.id;
    const cast = castEvents(c.daemon, id);
    expect(cast.header).toMatchObject({ version: 2, width: 100 });
    const text = cast.events.filter((e) => e[1] === 'o').map((e) => e[2]).join('');
    expect(text).toContain('interactive-marker-42');
    expect(cast.events.some((e) => e[1] === 'r' && e[2] === '120x40')).toBe(true);
    // asciinema opens /dev/tty, so give it a terminal (STACK.md).
    const file = path.join(c.daemon.dataDir, 'recordings', `${id}.cast`);
    const cat = await run('script', ['-qec', `asciinema cat ${shq(file)}`, '/dev/null'], { timeoutMs: 30_000 });
    expect(cat.code, cat.stderr).toBe(0);
    expect(cat.stdout).toContain('interactive-marker-42');
  });

  it('kill -9 of the daemon mid-session leaves a readable recording with everything older than 2 s', async () => {
    const t = await tshInTmux();
    try {
      await t.type('for i in 1 2 3; do echo before-kill-$i; done');
      await t.waitFor('before-kill-3');
      const before = new Set((await sessions(c.daemon)).map((s) => s.id));
      await new Promise((r) => setTimeout(r, 2500));
      c.daemon.process.child.kill('SIGKILL');
      await c.daemon.process.waitForExit();
      const dir = path.join(c.daemon.dataDir, 'recordings');
      const file = fs
        .readdirSync(dir)
        .filter((f) => f.endsWith('.cast'))
        .map((f) => path.join(dir, f))
        .sort((a, b) => fs.statSync(b).mtimeMs - fs.statSync(a).mtimeMs)[0]!;
      expect(before.has(path.basename(file, '.cast'))).toBe(true);
      const lines = fs.readFileSync(file, 'utf8').trimEnd().split('\n');
      const events = lines.slice(1).map((l) => JSON.parse(l) as [number, string, string]);
      expect((JSON.parse(lines[0]!) as { version: number }).version).toBe(2);
      expect(events.filter((e) => e[1] === 'o').map((e) => e[2]).join('')).toContain('before-kill-3');
      await waitFor(async () => /__EXIT=\d+/.test(await t.screen()), 'tsh to notice the proxy went away', 15_000);
    } finally {
      await t.kill();
    }
  });
});

describe('tsh config', () => {
  let c: Cluster;
  beforeAll(async () => {
    c = await startCluster();
  });
  afterAll(async () => {
    await c?.stop();
  });

  it('prints a config with which plain ssh reaches a node through the proxy, recorded', async () => {
    const r = await c.tsh(['config']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/ProxyJump joe@127\.0\.0\.1:\d+/);
    const cfg = path.join(c.home, 'ssh_config');
    fs.writeFileSync(cfg, `${r.stdout}\nHost *\n    BatchMode yes\n    StrictHostKeyChecking yes\n    GlobalKnownHostsFile /dev/null\n    IdentityAgent ${c.agent.socket}\n`);
    const ssh = await run('ssh', ['-F', cfg, '-p', String(c.sshd.port), 'root@localhost', 'echo through-config'], { timeoutMs: 30_000 });
    expect(ssh.stderr).toBe('');
    expect(ssh.stdout).toBe('through-config\n');
    expect((await sessions(c.daemon)).some((s) => s.command === 'echo through-config')).toBe(true);
  });
});

describe('web UI', () => {
  let c: Cluster;
  beforeAll(async () => {
    c = await startCluster();
  });
  afterAll(async () => {
    await c?.stop();
  });

  it('log in, list sessions, replay one in the browser player, download it, log out', async () => {
    const r = await c.tsh(['ssh', `--port=${c.sshd.port}`, 'root@127.0.0.1', 'echo web-player-marker']);
    expect(r.stdout).toBe('web-player-marker\n');
    const ticks = await c.tsh(['ssh', `--port=${c.sshd.port}`, 'root@127.0.0.1', 'for i in 1 2 3 4 5 6; do echo tick-$i; sleep 1; done']);
    expect(ticks.code).toBe(0);
    const artifacts = path.join(ROOT, 'test-artifacts');
    const { launchBrowser } = await import('../helpers/browser.js');
    const { PASSWORD } = await import('../helpers/cluster.js');
    const browser = await launchBrowser();
    try {
      const context = await browser.newContext({ ignoreHTTPSErrors: true });
      const page = await context.newPage();
      const base = `https://127.0.0.1:${c.daemon.webPort}`;
      await page.goto(`${base}/web/sessions`);
      expect(page.url()).toBe(`${base}/web/login`);
      await page.fill('#user', 'joe');
      await page.fill('#password', 'wrong password!');
      await page.click('#submit');
      await expect(page.locator('#error').textContent()).resolves.toContain('invalid credentials');
      await page.fill('#user', 'joe');
      await page.fill('#password', PASSWORD);
      await page.click('#submit');
      await page.waitForURL(`${base}/web/sessions`);
      const cookie = (await context.cookies()).find((k) => k.name === 'tg_session')!;
      expect(cookie).toMatchObject({ httpOnly: true, secure: true, sameSite: 'Strict' });
      const row = page.locator('#sessions tbody tr', { hasText: 'echo web-player-marker' });
      await expect(row.count()).resolves.toBe(1);
      fs.mkdirSync(artifacts, { recursive: true });
      await page.screenshot({ path: path.join(artifacts, 'web-sessions-list.png'), fullPage: true });
      await row.locator('a').click();
      await page.waitForSelector('.ap-player');
      await page.click('.ap-player');
      await page.waitForFunction(() => document.querySelector('#player')?.textContent?.includes('web-player-marker'), undefined, { timeout: 15_000 });
      await page.screenshot({ path: path.join(artifacts, 'web-player.png'), fullPage: true });

      // The seek bar jumps: open the 6-second session and click near the end of the bar.
      await page.goto(`${base}/web/sessions`);
      await page.locator('#sessions tbody tr', { hasText: 'tick-' }).locator('a').click();
      await page.waitForSelector('.ap-player');
      const bar = page.locator('.ap-progressbar');
      await bar.waitFor();
      const box = (await bar.boundingBox())!;
      await page.mouse.click(box.x + box.width * 0.85, box.y + box.height / 2);
      await page.waitForFunction(() => document.querySelector('#player')?.textContent?.includes('tick-5'), undefined, { timeout: 15_000 });
      const elapsed = await page.locator('.ap-time-elapsed').textContent();
      expect(elapsed).toMatch(/^00:0[4-6]$/);
      await page.goto(`${base}/web/sessions`);
      await page.locator('#sessions tbody tr', { hasText: 'echo web-player-marker' }).locator('a').click();
      const href = await page.locator('#download').getAttribute('href');
      const cast = await page.evaluate(async (u) => (await fetch(u!)).text(), href);
      expect(cast.split('\n')[0]).toContain('"version":2');
      // A state-changing request without the CSRF token is refused.
      const forged = await page.evaluate(async () => (await fetch('/web/logout', { method: 'POST', body: new URLSearchParams({ csrf: 'nope' }) })).status);
      expect(forged).toBe(403);
      await page.click('#logout button');
      await page.waitForURL(`${base}/web/login`);
      expect((await context.cookies()).some((k) => k.name === 'tg_session')).toBe(false);
      await page.goto(`${base}/web/sessions`);
      expect(page.url()).toBe(`${base}/web/login`);
    } finally {
      await browser.close();
    }
  });
});
