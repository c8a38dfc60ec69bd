import type { Hono } from 'hono';
import { html, raw } from 'hono/html';
import { AuditEvents } from '../audit/index.js';
import { layout } from './pages.js';
import { clientAddr, pageNav, webUser, type Env, type UiContext } from './web-session.js';

export const AUDIT_PAGE_SIZE = 50;
/** The store pages by time and count only: deeper pages than this are reached by narrowing the time range. */
const MAX_AUDIT_PAGES = 100;

const at = (q: string | undefined): number | undefined => {
  if (!q) return undefined;
  const t = Date.parse(/Z|[+-]\d\d:?\d\d$/.test(q) ? q : `${q}Z`);
  return Number.isNaN(t) ? undefined : t;
};

/** The audit log for auditors: newest first, filtered by type, user and time, paged. */
export function mountAuditPage(app: Hono<Env>, o: UiContext): void {
  app.get('/web/audit', async (c) => {
    const user = await webUser(c, o.login);
    if (!user) return c.redirect('/web/login', 303);
    const nav = pageNav(c, user, 'audit', o.access);
    if (!o.access.isAuditor(user)) {
      await o.auth.audit(AuditEvents.sessionAccessDenied, user.name, { what: 'audit log', addr: clientAddr(c) });
      return c.html(layout('Not allowed', html`<h1>Audit log</h1><p class="error" id="error">The audit log is for auditors. Ask an administrator for the auditor role.</p>`, { nav }), 403);
    }
    const q = (k: string) => (c.req.query(k) ?? '').trim().slice(0, 100) || undefined;
    const f = { type: q('type'), user: q('user'), from: q('from'), to: q('to') };
    const page = Math.max(1, Math.min(MAX_AUDIT_PAGES, Number(c.req.query('page')) || 1));
    const rows = await o.store.listEvents({
      ...(f.type ? { types: [f.type] } : {}),
      user: f.user,
      since: at(f.from),
      until: at(f.to),
      limit: page * AUDIT_PAGE_SIZE + 1,
    });
    const shown = rows.slice((page - 1) * AUDIT_PAGE_SIZE, page * AUDIT_PAGE_SIZE);
    const more = rows.length > page * AUDIT_PAGE_SIZE && page < MAX_AUDIT_PAGES;
    const link = (p: number) => {
      const u = new URLSearchParams();
      for (const [k, v] of Object.entries(f)) if (v) u.set(k, v);
      u.set('page', String(p));
      return `/web/audit?${u.toString()}`;
    };
    const types = Object.values(AuditEvents).sort();
    return c.html(
      layout(
        'Audit log',
        html`<h1>Audit log</h1>
<form method="get" action="/web/audit" class="bar" id="audit-filters" aria-label="Filters">
<div><label for="a-type">Type</label><select id="a-type" name="type"><option value="">any</option>${types.map((t) => html`<option ${f.type === t ? raw('selected') : ''}>${t}</option>`)}</select></div>
<div><label for="a-user">User</label><input id="a-user" name="user" value="${f.user ?? ''}" size="10"></div>
<div><label for="a-from">From (UTC)</label><input id="a-from" name="from" type="datetime-local" value="${f.from ?? ''}"></div>
<div><label for="a-to">To (UTC)</label><input id="a-to" name="to" type="datetime-local" value="${f.to ?? ''}"></div>
<button type="submit">Filter</button> <a href="/web/audit" class="muted">clear</a>
</form>
<div class="table-wrap"><table id="audit"><thead><tr><th class="c-time" scope="col">Time</th><th class="c-type" scope="col">Event</th><th class="c-user" scope="col">User</th><th scope="col">Details</th></tr></thead><tbody>
${shown.map((e) => {
  const details = JSON.stringify(e.fields);
  const sid = typeof e.fields.sid === 'string' ? e.fields.sid : undefined;
  return html`<tr data-event="${e.event}" ${sid ? html`data-sid="${sid}"` : ''}><td class="c-time" title="${new Date(e.time).toISOString()}">${new Date(e.time).toISOString().replace('T', ' ').slice(0, 19)}</td><td class="c-type">${e.event}</td><td class="c-user" title="${e.user ?? ''}">${e.user ?? ''}</td><td title="${details}">${sid ? html`<a href="/web/sessions/${sid}">session</a> ` : ''}<code>${details}</code></td></tr>`;
})}
</tbody></table></div>${shown.length === 0 ? html`<p class="muted" id="empty">No events match.</p>` : ''}
<nav class="pager" aria-label="Pages">${page > 1 ? html`<a href="${link(page - 1)}" id="prev" rel="prev">← Newer</a>` : ''}<span>Page ${page}</span>${more ? html`<a href="${link(page + 1)}" id="next" rel="next">Older →</a>` : ''}</nav>`,
        { nav },
      ),
    );
  });
}
