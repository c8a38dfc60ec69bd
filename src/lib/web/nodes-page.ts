import type { Hono } from 'hono';
import { html } from 'hono/html';
import { notFound } from '../errors.js';
import { layout } from './pages.js';
import { csrfToken, pageNav, webUser, type Env, type UiContext } from './web-session.js';

/** Path of the terminal page of a node; its CSP allows xterm.js's own style elements (web-app.ts). */
export const TERMINAL_PAGE = /^\/web\/nodes\/[^/]+\/terminal$/;

/** The nodes page (the inventory the user's labels reach) and the web terminal page. */
export function mountNodesPage(app: Hono<Env>, o: UiContext): void {
  app.get('/web/nodes', async (c) => {
    const user = await webUser(c, o.login);
    if (!user) return c.redirect('/web/login', 303);
    const nodes = o.inventory ? await o.inventory.nodesFor(user.name) : [];
    return c.html(
      layout(
        'Nodes',
        html`<h1>Nodes</h1>
<p class="muted">Registered OpenSSH nodes you may reach. They are agentless: every session gets its own short-lived certificate from the OpenSSH CA, so nothing you hold opens them directly. Nodes that are not registered (legacy, reached with your forwarded agent) are not listed and cannot be opened from the browser.</p>
<div class="table-wrap"><table id="nodes"><thead><tr><th class="c-node" scope="col">Name</th><th class="c-node" scope="col">Address</th><th scope="col">Labels</th><th class="c-type" scope="col">Protection</th><th scope="col">Connect</th></tr></thead><tbody>
${nodes.map((n) => {
  const labels = Object.entries(n.labels).map(([k, v]) => `${k}=${v}`);
  return html`<tr data-node="${n.name}"><td class="c-node" title="${n.name}">${n.name}</td><td class="c-node" title="${n.addr}">${n.addr}</td><td title="${labels.join(', ')}">${labels.map((l) => html`<span class="badge">${l}</span>`)}</td><td class="c-type">agentless <span class="muted">(${n.added_by.startsWith('join') ? 'joined' : 'added by tctl'})</span></td>
<td><form method="get" action="/web/nodes/${n.name}/terminal" class="bar connect"><label for="login-${n.name}" class="visually-hidden">Login on ${n.name}</label><select id="login-${n.name}" name="login">${user.logins.map((l) => html`<option>${l}</option>`)}</select><button type="submit" class="connect-button">Connect</button></form></td></tr>`;
})}
</tbody></table></div>${nodes.length === 0 ? html`<p class="muted" id="empty">No registered node matches your node labels.</p>` : ''}`,
        { nav: pageNav(c, user, 'nodes', o.access) },
      ),
    );
  });

  app.get('/web/nodes/:name/terminal', async (c) => {
    const user = await webUser(c, o.login);
    if (!user) return c.redirect('/web/login', 303);
    const name = c.req.param('name');
    const node = o.inventory ? (await o.inventory.nodesFor(user.name)).find((n) => n.name === name) : undefined;
    if (!node) throw notFound(`no node ${name} that you may reach`);
    const login = c.req.query('login') ?? user.logins[0] ?? '';
    const ws = `/webapi/terminal?${new URLSearchParams({ node: name, login, csrf: csrfToken(c) }).toString()}`;
    return c.html(
      layout(
        `${login}@${name}`,
        html`<h1>${login}@${name}</h1>
<p class="muted"><span id="term-status" role="status">Connecting…</span> · recorded and audited like every session</p>
<div id="terminal" data-ws="${ws}"></div>
<script src="/web/assets/xterm.js"></script>
<script src="/web/assets/terminal.js"></script>`,
        { nav: pageNav(c, user, 'nodes', o.access), head: html`<link rel="stylesheet" href="/web/assets/xterm.css">` },
      ),
    );
  });
}
