import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import NodeWebSocket from 'ws';
import { launchBrowser } from '../helpers/browser.js';
import { castEvents, PASSWORD, sessions, startCluster, type Cluster } from '../helpers/cluster.js';
import { postJson } from '../helpers/https.js';
import { cli, ROOT, spawnBackground, tmpDir, type Background } from '../helpers/proc.js';
import { writeNodeSshdConfig } from '../helpers/sshd.js';
import { shq, TmuxSession } from '../helpers/tmux.js';

/*
 * Issue 20, the web UI, in headless Chromium against a real daemon, a real sshd for the legacy
 * path and a second real sshd enrolled as a registered (agentless) node for the web terminal.
 * Screenshots go to test-artifacts/web-ui/ (gitignored).
 */
const artifacts = path.join(ROOT, 'test-artifacts', 'web-ui');
const axeSource = (createRequire(import.meta.url)('axe-core') as { source: string }).source;
const LONG = `echo long-${'x'.repeat(290)}`;

describe('web UI: sessions, player, nodes and terminal, audit, accessibility', () => {
  let c: Cluster;
  let work: string;
  let node: { port: number; proc?: Background };
  let browser: Browser;
  let base: string;
  let longId: string;
  let shellId: string;
  let webId: string;
  const pages: Record<string, string> = {};

  const loginAs = async (user: string, viewport = { width: 1280, height: 800 }, bypassCSP = false): Promise<{ ctx: BrowserContext; page: Page }> => {
    const ctx = await browser.newContext({ ignoreHTTPSErrors: true, viewport, bypassCSP });
    const page = await ctx.newPage();
    await page.goto(`${base}/web/login`);
    await page.fill('#user', user);
    await page.fill('#password', PASSWORD);
    await page.click('#submit');
    await page.waitForURL(`${base}/web/sessions`);
    return { ctx, page };
  };
  const shot = (page: Page, name: string) => page.screenshot({ path: path.join(artifacts, `${name}.png`), fullPage: true });

  beforeAll(async () => {
    fs.mkdirSync(artifacts, { recursive: true });
    c = await startCluster();
    base = `https://127.0.0.1:${c.daemon.webPort}`;
    work = tmpDir('tollgate-webui-');
    for (const [user, roles] of [
      ['amy', 'auditor'],
      ['bob', 'access'],
    ] as const) {
      const add = await c.daemon.tctl(['users', 'add', user, user, `--roles=${roles}`, '--format=json']);
      expect(add.code, add.stderr).toBe(0);
      expect((await postJson(c.daemon.webPort, `/webapi/invites/${(JSON.parse(add.stdout) as { token: string }).token}`, { password: PASSWORD })).status).toBe(200);
    }

    // A registered node: a real sshd enrolled with `teleport join openssh` (as agentless-nodes.test.ts).
    const dir = path.join(work, 'node');
    const { port, config } = await writeNodeSshdConfig(dir);
    node = { port };
    const token = JSON.parse((await c.daemon.tctl(['tokens', 'add', '--type=node', '--format=json'])).stdout) as { token: string; ca_pin: string; proxy: string };
    const join = await cli('teleport', ['join', 'openssh', `--proxy-server=${token.proxy}`, `--token=${token.token}`, `--ca-pin=${token.ca_pin}`, `--address=127.0.0.1:${port}`, '--labels=env=staging', '--node-name=node1', `--openssh-config=${config}`, `--data-dir=${path.join(dir, 'tollgate')}`, '--restart-sshd=no']);
    expect(join.code, join.stderr).toBe(0);
    node.proc = spawnBackground('/usr/sbin/sshd', ['-D', '-e', '-f', config]);
    await node.proc.waitForOutput(`Server listening on 127.0.0.1 port ${port}`);

    // An exec session with a 300-character command (legacy path, tsh ssh).
    const long = await c.tsh(['ssh', `--port=${c.sshd.port}`, 'root@127.0.0.1', LONG]);
    expect(long.code, long.stderr).toBe(0);
    // A shell session with three commands typed at a prompt (session.command markers).
    const t = await TmuxSession.start(`cd ${shq(ROOT)} && env TELEPORT_HOME=${shq(c.home)} SSH_AUTH_SOCK=${shq(c.agent.socket)} ${shq(process.execPath)} bin/tsh ssh -t --port=${c.sshd.port} root@127.0.0.1`, { width: 100, height: 30 });
    try {
      // Exactly three command lines: the default prompt, and Ctrl-D (not a command) to leave.
      await t.waitFor(/# $/m);
      for (const word of ['alpha', 'bravo', 'charlie']) {
        await new Promise((r) => setTimeout(r, 400));
        await t.type(`echo word-${word}`);
        await t.waitFor(new RegExp(`^word-${word}$`, 'm'));
      }
      await new Promise((r) => setTimeout(r, 400));
      await t.keys('C-d');
      expect((await t.exit()).code).toBe(0);
    } finally {
      await t.kill();
    }
    const all = await sessions(c.daemon);
    longId = all.find((s) => s.command === LONG)!.id;
    shellId = all.find((s) => s.kind === 'shell')!.id;
    browser = await launchBrowser();
  }, 180_000);

  afterAll(async () => {
    // Seen once under a full run's load (every page then refused): say why the daemon went away.
    if (c && !c.daemon.process.running) console.error(`the daemon exited (${c.daemon.process.exitCode}); its last output:\n${c.daemon.process.output.slice(-6000)}`);
    await browser?.close();
    await node?.proc?.stop();
    await c?.stop();
    if (work) fs.rmSync(work, { recursive: true, force: true });
  });

  it('1. the sessions list keeps every row under 3 lines at 1280×800 with a 300-character command; no page-level horizontal scroll at 390×844', async () => {
    const { ctx, page } = await loginAs('joe');
    try {
      pages.sessions = '/web/sessions';
      const row = page.locator(`#sessions tbody tr[data-id="${longId}"]`);
      await expect(row.count()).resolves.toBe(1);
      // The full command is there on hover (title) and on the session's page.
      expect(await row.locator('td.cmd').getAttribute('title')).toBe(LONG);
      const heights = await page.$$eval('#sessions tbody tr', (rows) =>
        rows.map((r) => ({ h: r.getBoundingClientRect().height, line: parseFloat(getComputedStyle(r.querySelector('td')!).lineHeight) })),
      );
      expect(heights.length).toBeGreaterThanOrEqual(2);
      for (const { h, line } of heights) expect(h).toBeLessThan(3 * line);
      await shot(page, 'sessions-1280');
      await page.setViewportSize({ width: 390, height: 844 });
      await page.reload();
      const widths = await page.evaluate(() => ({ scroll: document.documentElement.scrollWidth, inner: window.innerWidth }));
      expect(widths.scroll).toBeLessThanOrEqual(widths.inner);
      await shot(page, 'sessions-390');
      // The other pages fit a phone's width too.
      for (const [name, p] of Object.entries({ 'player-390': `/web/sessions/${longId}`, 'nodes-390': '/web/nodes', 'terminal-390': '/web/nodes/node1/terminal?login=root' })) {
        await page.goto(`${base}${p}`);
        if (name === 'player-390') await page.locator('details.cmd summary').click();
        const w = await page.evaluate(() => ({ scroll: document.documentElement.scrollWidth, inner: window.innerWidth }));
        expect(w.scroll, name).toBeLessThanOrEqual(w.inner);
        await shot(page, name);
      }
      // Filters and paging: kind=exec keeps the exec session only.
      await page.goto(`${base}/web/sessions?kind=exec`);
      expect(await page.locator('#sessions tbody tr').count()).toBe(1);
      await page.goto(`${base}/web/sessions?q=word-bravo`);
      await expect(page.locator('#hits tbody tr').count()).resolves.toBeGreaterThanOrEqual(1);
    } finally {
      await ctx.close();
    }
  });

  it('2. the player page shows the server\'s verdict, and `altered` once one byte of the .cast changes on disk', async () => {
    const { ctx, page } = await loginAs('joe');
    try {
      await page.goto(`${base}/web/sessions/${longId}`);
      expect(await page.locator('#verdict').textContent()).toBe('verified');
      expect(await page.locator('#m-user').textContent()).toBe('joe');
      expect(await page.locator('#m-login').textContent()).toBe('root');
      expect(await page.locator('#m-exit').textContent()).toBe('0');
      expect(await page.locator('#download').getAttribute('href')).toBe(`/webapi/sessions/${longId}/stream`);
      expect(await page.locator('#download-html').getAttribute('href')).toBe(`/webapi/sessions/${longId}/export.html`);
      await expect(page.locator('#session-events li', { hasText: 'session.start' }).count()).resolves.toBe(1);
      await shot(page, 'player-verified');
      const file = path.join(c.daemon.dataDir, 'recordings', `${longId}.cast`);
      const bytes = fs.readFileSync(file);
      const at = bytes.lastIndexOf('x');
      bytes[at] = 'y'.charCodeAt(0);
      fs.writeFileSync(file, bytes);
      await page.reload();
      expect(await page.locator('#verdict').textContent()).toBe('altered');
      await shot(page, 'player-altered');
    } finally {
      await ctx.close();
    }
  });

  it('3. a shell session with three commands shows three command markers; clicking one seeks the player there', async () => {
    const { ctx, page } = await loginAs('joe');
    try {
      pages.player = `/web/sessions/${shellId}`;
      await page.goto(`${base}${pages.player}`);
      const commands = await page.locator('#commands li').allTextContents();
      expect(commands).toHaveLength(3);
      expect(commands.map((x) => /echo word-(\w+)/.exec(x)?.[1])).toEqual(['alpha', 'bravo', 'charlie']);
      await page.waitForSelector('.ap-player');
      await expect.poll(() => page.locator('.ap-marker-container').count(), { timeout: 10_000 }).toBe(3);
      const third = Number(/#t=([0-9.]+)s?$/.exec((await page.locator('#commands li a').nth(2).getAttribute('href'))!)?.[1] ?? NaN);
      await page.locator('.ap-marker-container').nth(2).click();
      const now = async () => page.evaluate(() => (window as unknown as { tollgatePlayer: { getCurrentTime(): Promise<number> } }).tollgatePlayer.getCurrentTime());
      await expect.poll(now, { timeout: 10_000 }).toBeGreaterThanOrEqual(Number.isNaN(third) ? 0.1 : third - 0.05);
      // The screen shows that moment: the second command's output is there.
      await page.waitForFunction(() => document.querySelector('#player')?.textContent?.includes('word-bravo'), undefined, { timeout: 10_000 });
      await shot(page, 'player-markers');
    } finally {
      await ctx.close();
    }
  });

  it('4. nodes page → Connect → `echo web-$((3*3))` prints web-9; the session is listed and recorded; no WebSocket without the cookie, the CSRF token or our Origin', async () => {
    const { ctx, page } = await loginAs('joe');
    try {
      pages.nodes = '/web/nodes';
      await page.goto(`${base}/web/nodes`);
      const row = page.locator('#nodes tbody tr[data-node="node1"]');
      await expect(row.locator('td').nth(3).textContent()).resolves.toMatch(/agentless/);
      await shot(page, 'nodes');
      await row.locator('select').selectOption('root');
      const [termResponse] = await Promise.all([page.waitForResponse(/\/web\/nodes\/node1\/terminal/), row.locator('button').click()]);
      await page.waitForURL(/\/web\/nodes\/node1\/terminal/);
      // Only the terminal page lets xterm.js add its <style> elements; no page allows inline script.
      const csp = termResponse.headers()['content-security-policy']!;
      expect(csp).toContain("style-src 'self' 'unsafe-inline'");
      expect(csp).toMatch(/script-src 'self' 'wasm-unsafe-eval'(;|$)/);
      const screen = () => page.evaluate(() => {
        const b = (window as unknown as { tollgateTerminal: { buffer: { active: { length: number; getLine(i: number): { translateToString(trim: boolean): string } | undefined } } } }).tollgateTerminal.buffer.active;
        const out: string[] = [];
        for (let i = 0; i < b.length; i++) out.push(b.getLine(i)?.translateToString(true) ?? '');
        return out;
      });
      await expect.poll(async () => (await screen()).some((l) => /[#$] ?$/.test(l)), { timeout: 20_000 }).toBe(true);
      await page.locator('#terminal').click();
      await page.keyboard.type('echo web-$((3*3))\n');
      await expect.poll(async () => (await screen()).includes('web-9'), { timeout: 10_000 }).toBe(true);
      // Resizes follow the browser window.
      await page.setViewportSize({ width: 900, height: 600 });
      await new Promise((r) => setTimeout(r, 800));
      await shot(page, 'terminal');
      await page.keyboard.type('exit\n');
      await expect.poll(() => page.locator('#term-status').textContent(), { timeout: 10_000 }).toMatch(/ended|Disconnected/);
      await expect.poll(async () => (await sessions(c.daemon)).some((s) => s.node === 'node1' && s.endedAt !== null), { timeout: 10_000 }).toBe(true);
      const web = (await sessions(c.daemon)).find((s) => s.node === 'node1')!;
      webId = web.id;
      expect(web).toMatchObject({ kind: 'shell', user: 'joe', login: 'root' });
      const cast = castEvents(c.daemon, web.id);
      expect(cast.events.filter((e) => e[1] === 'o').map((e) => e[2]).join('')).toContain('web-9');
      expect(cast.events.some((e) => e[1] === 'r')).toBe(true);
      await page.goto(`${base}/web/sessions`);
      await expect(page.locator(`#sessions tbody tr[data-id="${web.id}"]`).count()).resolves.toBe(1);
      const start = JSON.parse((await c.daemon.tctl(['events', 'ls', '--type=session.start', '--format=json'])).stdout) as { sid: string; client?: string; upstream_auth?: string }[];
      expect(start.find((e) => e.sid === web.id)).toMatchObject({ client: 'web', upstream_auth: 'session-cert' });

      // A second browser context without the cookie cannot open the socket.
      const anon = await browser.newContext({ ignoreHTTPSErrors: true });
      const anonPage = await anon.newPage();
      await anonPage.goto(`${base}/web/login`);
      const opened = (p: Page, q: string) =>
        p.evaluate(
          (u) =>
            new Promise<string>((resolve) => {
              const ws = new WebSocket(u);
              ws.onopen = () => resolve('open');
              ws.onerror = () => resolve('refused');
            }),
          `wss://127.0.0.1:${c.daemon.webPort}/webapi/terminal?${q}`,
        );
      const csrf = (await ctx.cookies()).find((k) => k.name === 'tg_csrf')!.value;
      expect(await opened(anonPage, `node=node1&login=root&csrf=${csrf}`)).toBe('refused');
      await anon.close();
      // The logged-in browser without the page's CSRF token: refused too.
      expect(await opened(page, 'node=node1&login=root&csrf=forged')).toBe('refused');
      // Cookie and token from another Origin (a cross-site page): refused.
      const cookie = (await ctx.cookies()).map((k) => `${k.name}=${k.value}`).join('; ');
      const status = await new Promise<number | string>((resolve) => {
        const ws = new NodeWebSocket(`wss://127.0.0.1:${c.daemon.webPort}/webapi/terminal?node=node1&login=root&csrf=${csrf}`, { rejectUnauthorized: false, headers: { cookie, origin: 'https://evil.example' } });
        ws.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
        ws.on('open', () => resolve('open'));
        ws.on('error', (e) => resolve(e.message));
      });
      expect(status).toBe(403);

      // Closing the tab ends the session, as closing ssh would; the recording is finished.
      const second = await ctx.newPage();
      await second.goto(`${base}/web/nodes/node1/terminal?login=root`);
      await expect.poll(async () => (await sessions(c.daemon)).filter((s) => s.node === 'node1').length, { timeout: 20_000 }).toBe(2);
      await second.close();
      await expect.poll(async () => (await sessions(c.daemon)).filter((s) => s.node === 'node1').every((s) => s.endedAt !== null), { timeout: 10_000 }).toBe(true);
    } finally {
      await ctx.close();
    }
  }, 90_000);

  it('5. the audit page lists the web session\'s session.start for an auditor; an access user gets no audit page', async () => {
    expect(webId).toBeTruthy();
    const amy = await loginAs('amy');
    try {
      pages.audit = '/web/audit';
      await amy.page.goto(`${base}/web/audit?type=session.start`);
      await expect(amy.page.locator(`#audit tbody tr[data-event="session.start"][data-sid="${webId}"]`).count()).resolves.toBe(1);
      const times = await amy.page.$$eval('#audit tbody tr td.c-time', (tds) => tds.map((t) => t.textContent ?? ''));
      expect([...times].sort().reverse()).toEqual(times);
      await shot(amy.page, 'audit');
    } finally {
      await amy.ctx.close();
    }
    const bob = await loginAs('bob');
    try {
      const r = await bob.page.goto(`${base}/web/audit`);
      expect(r?.status()).toBe(403);
      expect(await bob.page.locator('#audit').count()).toBe(0);
      expect(await bob.page.locator('nav a[href="/web/audit"]').count()).toBe(0);
    } finally {
      await bob.ctx.close();
    }
  });

  it('6. axe-core finds no serious or critical violation on the login, sessions, player, nodes and audit pages', async () => {
    const check = async (page: Page, name: string) => {
      await page.addScriptTag({ content: axeSource });
      const result = await page.evaluate(async () => {
        const r = await (window as unknown as { axe: { run(): Promise<{ violations: { id: string; impact: string | null; nodes: { target: unknown }[] }[] }> } }).axe.run();
        return r.violations.map((v) => ({ id: v.id, impact: v.impact, targets: v.nodes.map((n) => JSON.stringify(n.target)).slice(0, 3) }));
      });
      expect(result.filter((v) => v.impact === 'serious' || v.impact === 'critical'), name).toEqual([]);
    };
    for (const scheme of ['light', 'dark'] as const) {
      // bypassCSP: axe-core is injected as an inline script, which the pages' CSP rightly refuses.
      const ctx = await browser.newContext({ ignoreHTTPSErrors: true, colorScheme: scheme, bypassCSP: true });
      const page = await ctx.newPage();
      await page.goto(`${base}/web/login`);
      await check(page, `login (${scheme})`);
      await shot(page, `login-${scheme}`);
      await ctx.close();
      const amy = await loginAs('amy', undefined, true);
      await amy.page.emulateMedia({ colorScheme: scheme });
      for (const [name, p] of Object.entries({ sessions: '/web/sessions', player: `/web/sessions/${shellId}`, nodes: '/web/nodes', audit: '/web/audit' })) {
        await amy.page.goto(`${base}${p}`);
        if (name === 'player') await amy.page.waitForSelector('.ap-player');
        await check(amy.page, `${name} (${scheme})`);
        await shot(amy.page, `${name}-${scheme}`);
      }
      await amy.ctx.close();
    }
  }, 90_000);
});
