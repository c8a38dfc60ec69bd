import fs from 'node:fs';
import { createRequire } from 'node:module';
import type { Context, Hono } from 'hono';
import { deleteCookie, setCookie } from 'hono/cookie';
import { html } from 'hono/html';
import { isTollgateError } from '../errors.js';
import { layout } from './pages.js';
import { PLAYER_JS, TERMINAL_JS } from './client-scripts.js';
import { mountSessionsPage } from './sessions-page.js';
import { mountPlayerPage } from './player-page.js';
import { mountNodesPage } from './nodes-page.js';
import { mountAuditPage } from './audit-page.js';
import { checkCsrf, clientAddr, cookieOpts, cookieToken, csrfToken, SESSION_COOKIE, type Env, type UiContext } from './web-session.js';

const require = createRequire(import.meta.url);
/** Third-party browser files, as their packages export them (read on request, not at start-up). */
const ASSETS: Record<string, { file: string; type: string }> = {
  'asciinema-player.min.js': { file: 'asciinema-player/dist/bundle/asciinema-player.min.js', type: 'text/javascript' },
  'asciinema-player.css': { file: 'asciinema-player/dist/bundle/asciinema-player.css', type: 'text/css' },
  'xterm.js': { file: '@xterm/xterm/lib/xterm.js', type: 'text/javascript' },
  'xterm.css': { file: '@xterm/xterm/css/xterm.css', type: 'text/css' },
};

/** Web pages: login (password + OTP), sessions, player, nodes and terminal, audit log. */
export function mountUi(app: Hono<Env>, o: UiContext): void {
  for (const [name, a] of Object.entries(ASSETS)) {
    app.get(`/web/assets/${name}`, (c) => {
      c.header('cache-control', 'public, max-age=86400');
      return c.body(fs.readFileSync(require.resolve(a.file), 'utf8'), 200, { 'content-type': `${a.type}; charset=utf-8` });
    });
  }
  app.get('/web/assets/player.js', (c) => c.body(PLAYER_JS, 200, { 'content-type': 'text/javascript; charset=utf-8' }));
  app.get('/web/assets/terminal.js', (c) => c.body(TERMINAL_JS, 200, { 'content-type': 'text/javascript; charset=utf-8' }));

  const loginPage = (c: Context<Env>, error?: string, status = 200) =>
    c.html(
      layout(
        'Log in',
        html`<h1>Log in to ${o.clusterName}</h1>
${error ? html`<p class="error" role="alert" id="error">${error}</p>` : ''}
<form method="post" action="/web/login" id="login">
<input type="hidden" name="csrf" value="${csrfToken(c)}">
<label for="user">User</label><input id="user" name="user" autocomplete="username" required>
<label for="password">Password</label><input id="password" name="password" type="password" autocomplete="current-password" required>
${o.login.secondFactor === 'otp' ? html`<label for="otp">Authenticator code</label><input id="otp" name="otp" inputmode="numeric" pattern="[0-9]{6}" autocomplete="one-time-code" required>` : ''}
<button type="submit" id="submit">Log in</button>
</form>`,
      ),
      status as 200,
    );

  app.get('/web/login', (c) => loginPage(c));
  app.post('/web/login', async (c) => {
    const form = await c.req.parseBody();
    checkCsrf(c, form);
    try {
      const user = await o.login.login({
        user: String(form.user ?? ''),
        password: String(form.password ?? ''),
        otp: typeof form.otp === 'string' ? form.otp : undefined,
        addr: clientAddr(c),
      });
      const { token, expiresAt } = await o.login.startWebSession(user.name);
      setCookie(c, SESSION_COOKIE, token, { ...cookieOpts, expires: expiresAt });
      return c.redirect('/web/sessions', 303);
    } catch (err) {
      if (isTollgateError(err) && err.kind === 'access-denied') return loginPage(c, `${err.message}.`, 403);
      throw err;
    }
  });
  app.post('/web/logout', async (c) => {
    const form = await c.req.parseBody();
    checkCsrf(c, form);
    const t = cookieToken(c);
    if (t) await o.login.endWebSession(t);
    deleteCookie(c, SESSION_COOKIE, cookieOpts);
    return c.redirect('/web/login', 303);
  });

  mountSessionsPage(app, o);
  mountPlayerPage(app, o);
  mountNodesPage(app, o);
  mountAuditPage(app, o);

  app.get('/web/', (c) => c.redirect('/web/sessions', 302));
  app.get('/favicon.ico', (c) => c.body(null, 204));
}
