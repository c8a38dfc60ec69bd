import crypto from 'node:crypto';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import type { HttpBindings } from '@hono/node-server';
import type { Context, Hono } from 'hono';
import { deleteCookie, getCookie, setCookie } from 'hono/cookie';
import { html } from 'hono/html';
import { sessionToJson } from '../recording/index.js';
import type { LoginService } from '../auth/index.js';
import { formatDuration, formatOffset } from '../duration.js';
import { AuditEvents } from '../audit/index.js';
import { accessDenied, isTollgateError } from '../errors.js';
import type { SessionRecord, Store, UserRecord } from '../store/index.js';
import { layout } from './pages.js';
import type { SessionAccess } from './session-access.js';
import type { LiveView } from './live-view.js';

type Env = { Bindings: Partial<HttpBindings> };

export const SESSION_COOKIE = 'tg_session';
const CSRF_COOKIE = 'tg_csrf';
const cookieOpts = { httpOnly: true, secure: true, sameSite: 'Strict' as const, path: '/' };

const require = createRequire(import.meta.url);
/** The player's own files, as the package exports them (read on request, not at start-up). */
const playerFile = (name: 'asciinema-player.min.js' | 'asciinema-player.css') => require.resolve(`asciinema-player/dist/bundle/${name}`);

/** The browser's session token: the HttpOnly cookie, never readable by scripts. */
export function cookieToken(c: Context<Env>): string | undefined {
  return getCookie(c, SESSION_COOKIE);
}

/** Double-submit CSRF token: a cookie the page cannot read plus the same value in each form. */
function csrfToken(c: Context<Env>): string {
  let t = getCookie(c, CSRF_COOKIE);
  if (!t || !/^[0-9a-f]{64}$/.test(t)) {
    t = crypto.randomBytes(32).toString('hex');
    setCookie(c, CSRF_COOKIE, t, cookieOpts);
  }
  return t;
}

function checkCsrf(c: Context<Env>, form: Record<string, unknown>): void {
  const cookie = getCookie(c, CSRF_COOKIE);
  const field = typeof form.csrf === 'string' ? form.csrf : '';
  if (!cookie || cookie.length !== field.length || !crypto.timingSafeEqual(Buffer.from(cookie), Buffer.from(field))) {
    throw accessDenied('the form expired or came from another site', 'reload the page and try again');
  }
}

const PLAYER_JS = `
// Creates the asciinema player for the recording named on the page (no inline scripts: CSP).
const el = document.getElementById('player');
const speedSel = document.getElementById('speed');
let player;
// #t=OFFSET (a search hit's offset: 1m32.5s, 92.5s or 92.5) opens the recording at that moment,
// showing that frame (the poster) before play is pressed.
function startAt() {
  const m = /^#t=([0-9hms.]+)$/.exec(location.hash);
  if (!m) return 0;
  if (/^[0-9.]+$/.test(m[1])) return Number(m[1]) || 0;
  let total = 0;
  for (const [, n, u] of m[1].matchAll(/([0-9.]+)(h|m|s)/g)) total += Number(n) * (u === 'h' ? 3600 : u === 'm' ? 60 : 1);
  return total;
}
function create(speed) {
  if (player) player.dispose();
  el.innerHTML = '';
  // A hit's offset is the time of the event that drew the line; the player's frame at a time
  // holds the events before it, so open a few milliseconds later to include that event.
  const at = startAt() > 0 ? startAt() + 0.005 : 0;
  // The session's command log as markers on the seek bar ([seconds, command]).
  const markers = JSON.parse(el.dataset.markers || '[]');
  player = AsciinemaPlayer.create(el.dataset.src, el, { cols: Number(el.dataset.cols), rows: Number(el.dataset.rows), speed, controls: true, fit: 'width', idleTimeLimit: undefined, markers, ...(at > 0 ? { startAt: at, preload: true, poster: 'npt:' + at } : {}) });
}
if (el.dataset.live) {
  // A running session: the player's eventsource driver paints the current screen, then follows.
  player = AsciinemaPlayer.create({ driver: 'eventsource', url: el.dataset.live }, el, { cols: Number(el.dataset.cols), rows: Number(el.dataset.rows), autoPlay: true, fit: 'width' });
} else {
  create(1);
  speedSel.addEventListener('change', () => create(Number(speedSel.value)));
  // A command in the list below the player links to #t=OFFSET: open the player there.
  window.addEventListener('hashchange', () => create(Number(speedSel.value)));
}
`;

/** Web pages: login (password + OTP), sessions list, player; cookie sessions with CSRF checks. */
export function mountUi(app: Hono<Env>, o: { login: LoginService; access: SessionAccess; store: Store; clusterName: string; live?: LiveView }): void {
  const addr = (c: Context<Env>) => c.env?.incoming?.socket?.remoteAddress ?? 'unknown';
  const userOf = async (c: Context<Env>): Promise<UserRecord | undefined> => {
    const t = cookieToken(c);
    if (!t) return undefined;
    try {
      return await o.login.userForToken(t);
    } catch {
      return undefined;
    }
  };

  app.get('/web/assets/asciinema-player.min.js', (c) => {
    c.header('cache-control', 'public, max-age=86400');
    return c.body(fs.readFileSync(playerFile('asciinema-player.min.js'), 'utf8'), 200, { 'content-type': 'text/javascript; charset=utf-8' });
  });
  app.get('/web/assets/asciinema-player.css', (c) => {
    c.header('cache-control', 'public, max-age=86400');
    return c.body(fs.readFileSync(playerFile('asciinema-player.css'), 'utf8'), 200, { 'content-type': 'text/css; charset=utf-8' });
  });
  app.get('/web/assets/player.js', (c) => c.body(PLAYER_JS, 200, { 'content-type': 'text/javascript; charset=utf-8' }));

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
        addr: addr(c),
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

  const nav = (c: Context<Env>, user: UserRecord) =>
    html`<form method="post" action="/web/logout" class="muted" id="logout"><input type="hidden" name="csrf" value="${csrfToken(c)}">${user.name} (${user.roles.join(', ')}) · <button type="submit">Log out</button></form>`;

  app.get('/web/sessions', async (c) => {
    const user = await userOf(c);
    if (!user) return c.redirect('/web/login', 303);
    const auditor = o.access.isAuditor(user);
    const q = { user: c.req.query('user') || undefined, from: c.req.query('from') || undefined, to: c.req.query('to') || undefined };
    const rows = (
      await o.store.listSessions({
        ...o.access.scope(user, { user: q.user, since: q.from ? Date.parse(q.from) || undefined : undefined }),
        until: q.to ? Date.parse(q.to) || undefined : undefined,
        limit: 500,
      })
    ).map(sessionToJson);
    return c.html(
      layout(
        'Sessions',
        html`${nav(c, user)}<h1>Recorded sessions</h1>
<form method="get" action="/web/sessions" id="filters">
${auditor ? html`<label for="f-user">User</label><input id="f-user" name="user" value="${q.user ?? ''}">` : ''}
<label for="f-from">From</label><input id="f-from" name="from" type="date" value="${q.from ?? ''}">
<label for="f-to">To</label><input id="f-to" name="to" type="date" value="${q.to ?? ''}">
<button type="submit">Filter</button>
</form>
<table id="sessions"><thead><tr><th>Started</th><th>User</th><th>Login</th><th>Node</th><th>Kind</th><th>Duration</th><th>Exit</th></tr></thead><tbody>
${rows.map(
  (r) => html`<tr><td><a href="/web/sessions/${r.id}">${r.started_at}</a></td><td>${r.user}</td><td>${r.login}</td><td>${r.node}</td><td>${r.kind}${r.command ? html`: <code>${r.command}</code>` : ''}</td><td>${r.ended_at ? formatDuration(Date.parse(r.ended_at) - Date.parse(r.started_at)) : html`<span class="live">live</span>`}</td><td>${r.end_reason === 'interrupted' ? 'interrupted' : (r.exit_status ?? r.exit_signal ?? '')}</td></tr>`,
)}
</tbody></table>`,
      ),
    );
  });

  app.get('/web/sessions/:id', async (c) => {
    const user = await userOf(c);
    if (!user) return c.redirect('/web/login', 303);
    const id = c.req.param('id');
    let s: SessionRecord;
    try {
      s = await o.access.visibleSession(user, id, addr(c));
    } catch (err) {
      // Someone else's recording looks like a missing one (the refusal is audited all the same).
      if (isTollgateError(err) && (err.kind === 'not-found' || err.kind === 'access-denied')) {
        return c.html(layout('Not found', html`${nav(c, user)}<h1>No such recording</h1><p class="error" id="error">There is no recording ${id} that you may see.</p>`), 404);
      }
      throw err;
    }
    const live = s.endedAt === null && o.live !== undefined;
    if (live) {
      return c.html(
        layout(
          `Live session ${s.id}`,
          html`<link rel="stylesheet" href="/web/assets/asciinema-player.css">
${nav(c, user)}<h1><span class="live" id="live">live</span> ${s.user} as ${s.login}@${s.node}</h1>
<p class="muted">${new Date(s.startedAt).toISOString()} · ${s.kind}${s.command ? html` · <code>${s.command}</code>` : ''}</p>
${o.access.isAuditor(user)
  ? html`<form method="post" action="/web/sessions/${s.id}/end" id="end-session"><input type="hidden" name="csrf" value="${csrfToken(c)}"><label for="end-message">Message</label> <input id="end-message" name="message" maxlength="1024"> <button type="submit" id="end">End session</button></form>`
  : ''}
<div id="player" data-live="/webapi/sessions/${s.id}/live" data-cols="80" data-rows="24"></div>
<script src="/web/assets/asciinema-player.min.js"></script>
<script src="/web/assets/player.js"></script>`,
        ),
      );
    }
    // The command log of this session (session.command events), for markers and a list of links.
    const commands = (await o.store.listEvents({ types: [AuditEvents.sessionCommand], user: s.user, limit: 10_000 }))
      .filter((e) => e.fields.sid === s.id && typeof e.fields.offset_ms === 'number' && typeof e.fields.command === 'string')
      .map((e) => ({ ms: e.fields.offset_ms as number, command: e.fields.command as string }))
      .sort((a, b) => a.ms - b.ms);
    const markers = JSON.stringify(commands.map((x) => [x.ms / 1000, x.command]));
    return c.html(
      layout(
        `Session ${s.id}`,
        html`<link rel="stylesheet" href="/web/assets/asciinema-player.css">
${nav(c, user)}<h1>${s.user} as ${s.login}@${s.node}</h1>
<p class="muted">${new Date(s.startedAt).toISOString()} · ${s.kind}${s.command ? html` · <code>${s.command}</code>` : ''} · <a id="download" href="/webapi/sessions/${s.id}/stream" download="${s.id}.cast">download .cast</a> · <a id="download-html" href="/webapi/sessions/${s.id}/export.html" download="tollgate-${s.id}.html">download as HTML</a></p>
<p><label for="speed">Speed</label> <select id="speed"><option value="0.5">0.5×</option><option value="1" selected>1×</option><option value="2">2×</option><option value="4">4×</option><option value="8">8×</option></select></p>
<div id="player" data-src="/webapi/sessions/${s.id}/stream" data-cols="80" data-rows="24" data-markers="${markers}"></div>
${commands.length ? html`<h2>Commands</h2><ol id="commands">${commands.map((x) => html`<li><a href="#t=${formatOffset(x.ms)}">${formatOffset(x.ms)}</a> <code>${x.command}</code></li>`)}</ol>` : ''}
<script src="/web/assets/asciinema-player.min.js"></script>
<script src="/web/assets/player.js"></script>`,
      ),
    );
  });

  // The auditors' button on a live session's page: ends it with the message for every participant.
  app.post('/web/sessions/:id/end', async (c) => {
    const user = await userOf(c);
    if (!user) return c.redirect('/web/login', 303);
    const form = await c.req.parseBody();
    checkCsrf(c, form);
    if (!o.access.isAuditor(user)) {
      await o.access.visibleSession(user, c.req.param('id'), addr(c));
      throw accessDenied('only auditors may end sessions', 'ask an administrator: tctl sessions end ID');
    }
    if (!o.live) throw accessDenied('this proxy serves no live sessions');
    const message = typeof form.message === 'string' ? form.message.slice(0, 1024) : '';
    await o.live.end(c.req.param('id'), message, `web:${user.name}`);
    return c.redirect(`/web/sessions/${c.req.param('id')}`, 303);
  });

  app.get('/web/', (c) => c.redirect('/web/sessions', 302));
  app.get('/favicon.ico', (c) => c.body(null, 204));
}
