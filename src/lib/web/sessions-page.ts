import type { Hono } from 'hono';
import { html, raw } from 'hono/html';
import { formatDuration, formatOffset } from '../duration.js';
import type { SessionRecord } from '../store/index.js';
import { layout } from './pages.js';
import { clientAddr, pageNav, webUser, type Env, type UiContext } from './web-session.js';

/** Rows per page of the sessions list and of search hits. */
export const SESSIONS_PAGE_SIZE = 50;
/**
 * How many index rows one listing reads at most. The store pages by time only, so the node and
 * kind filters and the page offset are applied here, over at most this many of the newest rows.
 */
const MAX_SCANNED = 5000;
const KINDS = ['shell', 'exec', 'sftp', 'subsystem'] as const;

const day = (q: string | undefined, end: boolean): number | undefined => {
  if (!q || !/^\d{4}-\d{2}-\d{2}$/.test(q)) return undefined;
  const t = Date.parse(`${q}T00:00:00Z`);
  return Number.isNaN(t) ? undefined : end ? t + 86_400_000 - 1 : t;
};
const when = (ms: number) => new Date(ms).toISOString().replace('T', ' ').slice(0, 19);

/** The sessions list: one compact filter bar, search, paging; live sessions marked and linked. */
export function mountSessionsPage(app: Hono<Env>, o: UiContext): void {
  app.get('/web/sessions', async (c) => {
    const user = await webUser(c, o.login);
    if (!user) return c.redirect('/web/login', 303);
    const auditor = o.access.isAuditor(user);
    const q = (k: string) => (c.req.query(k) ?? '').trim().slice(0, 200) || undefined;
    const f = { user: q('user'), node: q('node'), kind: KINDS.find((k) => k === q('kind')), from: q('from'), to: q('to'), q: q('q') };
    const page = Math.max(1, Math.min(1000, Number(c.req.query('page')) || 1));
    // session-access.ts scope(): an `access` user sees only their own sessions since they were
    // created (not those of an earlier user of the same name); auditors see everyone's.
    const scoped = o.access.scope(user, { user: f.user, since: day(f.from, false) });
    const owner = scoped.user;
    const since = scoped.since;
    const until = day(f.to, true);
    const link = (p: number) => {
      const u = new URLSearchParams();
      for (const [k, v] of Object.entries(f)) if (v) u.set(k, v);
      u.set('page', String(p));
      return `/web/sessions?${u.toString()}`;
    };

    let body;
    let more = false;
    if (f.q) {
      // Search (the search API's rule): `access` users search their own sessions, auditors all.
      const hits = await o.store.searchSessions({ text: f.q, user: owner, node: f.node, since, until, limit: SESSIONS_PAGE_SIZE + 1, skip: (page - 1) * SESSIONS_PAGE_SIZE });
      more = hits.length > SESSIONS_PAGE_SIZE;
      body = html`<div class="table-wrap"><table id="hits"><caption class="muted">Lines matching “${f.q}”</caption><thead><tr><th class="c-time" scope="col">Started</th><th class="c-user" scope="col">User</th><th class="c-node" scope="col">Node</th><th class="c-dur" scope="col">At</th><th scope="col">Line</th></tr></thead><tbody>
${hits.slice(0, SESSIONS_PAGE_SIZE).map(
  (h) => html`<tr><td class="c-time">${when(h.startedAt)}</td><td class="c-user">${h.user}</td><td class="c-node" title="${h.node}">${h.node}</td><td class="c-dur"><a href="/web/sessions/${h.sessionId}#t=${formatOffset(h.offsetMs)}">${formatOffset(h.offsetMs)}</a></td><td title="${h.line}"><code>${h.line}</code></td></tr>`,
)}
</tbody></table></div>${hits.length === 0 ? html`<p class="muted" id="empty">No recorded line matches.</p>` : ''}`;
    } else {
      const rows = (await o.store.listSessions({ user: owner, since, until, limit: MAX_SCANNED })).filter(
        (s) => (!f.node || s.node === f.node || s.node.startsWith(`${f.node}:`)) && (!f.kind || s.kind === f.kind),
      );
      const shown = rows.slice((page - 1) * SESSIONS_PAGE_SIZE, page * SESSIONS_PAGE_SIZE);
      more = rows.length > page * SESSIONS_PAGE_SIZE;
      body = html`<div class="table-wrap"><table id="sessions"><caption class="muted" id="count">${rows.length}${rows.length >= MAX_SCANNED ? '+' : ''} sessions</caption><thead><tr><th class="c-time" scope="col">Started</th><th class="c-user" scope="col">User</th><th class="c-login" scope="col">Login</th><th class="c-node" scope="col">Node</th><th class="c-kind" scope="col">Kind</th><th scope="col">Command</th><th class="c-dur" scope="col">Duration</th><th class="c-exit" scope="col">Exit</th></tr></thead><tbody>
${shown.map(row)}
</tbody></table></div>${rows.length === 0 ? html`<p class="muted" id="empty">No sessions match.</p>` : ''}`;
    }
    return c.html(
      layout(
        'Sessions',
        html`<h1>Sessions</h1>
<form method="get" action="/web/sessions" class="bar" id="filters" role="search" aria-label="Search and filters">
<div><label for="f-q">Search screen text</label><input id="f-q" name="q" type="search" value="${f.q ?? ''}" placeholder="e.g. a command or its output"></div>
${auditor ? html`<div><label for="f-user">User</label><input id="f-user" name="user" value="${f.user ?? ''}" size="10"></div>` : ''}
<div><label for="f-node">Node</label><input id="f-node" name="node" value="${f.node ?? ''}" size="12"></div>
<div><label for="f-kind">Kind</label><select id="f-kind" name="kind"><option value="">any</option>${KINDS.map((k) => html`<option ${f.kind === k ? raw('selected') : ''}>${k}</option>`)}</select></div>
<div><label for="f-from">From</label><input id="f-from" name="from" type="date" value="${f.from ?? ''}"></div>
<div><label for="f-to">To</label><input id="f-to" name="to" type="date" value="${f.to ?? ''}"></div>
<button type="submit" id="apply">Apply</button> <a href="/web/sessions" class="muted">clear</a>
</form>
${body}
<nav class="pager" aria-label="Pages">${page > 1 ? html`<a href="${link(page - 1)}" id="prev" rel="prev">← Newer</a>` : ''}<span>Page ${page}</span>${more ? html`<a href="${link(page + 1)}" id="next" rel="next">Older →</a>` : ''}</nav>`,
        { nav: pageNav(c, user, 'sessions', o.access) },
      ),
    );
  });
}

function row(s: SessionRecord) {
  const exit = s.endReason === 'interrupted' ? 'interrupted' : String(s.exitStatus ?? s.exitSignal ?? '');
  const command = s.command ?? '';
  return html`<tr data-id="${s.id}"><td class="c-time"><a href="/web/sessions/${s.id}">${when(s.startedAt)}</a></td><td class="c-user" title="${s.user}">${s.user}</td><td class="c-login" title="${s.login}">${s.login}</td><td class="c-node" title="${s.node}">${s.node}</td><td class="c-kind">${s.kind}</td><td class="cmd" title="${command}">${command ? html`<code>${command}</code>` : ''}</td><td class="c-dur">${s.endedAt === null ? html`<a class="live" href="/web/sessions/${s.id}">live</a>` : formatDuration(s.endedAt - s.startedAt)}</td><td class="c-exit">${exit}</td></tr>`;
}
