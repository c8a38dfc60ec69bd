import { html, raw } from 'hono/html';
import type { HtmlEscapedString } from 'hono/utils/html';

/*
 * Server-rendered pages: plain HTML forms that work without JavaScript, one stylesheet, no inline
 * scripts (the Content-Security-Policy forbids them).
 */
export type Html = HtmlEscapedString | Promise<HtmlEscapedString>;

/*
 * One hand-written stylesheet (no framework: about 50 lines the CSP serves from 'self', with
 * nothing to update or audit). Colours are variables switched by prefers-color-scheme, so light
 * and dark follow the OS. Tables never wrap a cell: long text is cut with an ellipsis and shown
 * whole in its title (hover) and on the session's page.
 */
export const STYLESHEET = `
:root { color-scheme: light dark; font-family: system-ui, sans-serif; --bg: #fff; --fg: #1b1f24; --muted: #4d5560; --line: #d6dae0; --panel: #f4f6f8; --accent: #0b57d0; --accent-fg: #fff; --bad: #b3261e; --good: #1e7d32; --warn: #8a5a00; }
@media (prefers-color-scheme: dark) { :root { --bg: #14171b; --fg: #e6e8eb; --muted: #a9b1bb; --line: #39404a; --panel: #1e2329; --accent: #8ab4f8; --accent-fg: #0b1a33; --bad: #f2b8b5; --good: #9ed7a4; --warn: #f3c96b; } }
* { box-sizing: border-box; }
body { margin: 0; background: var(--bg); color: var(--fg); line-height: 1.5; }
a { color: var(--accent); }
main { max-width: 34rem; margin: 2rem auto; padding: 0 1rem; }
main.wide { max-width: 80rem; margin-top: 1rem; }
header.top { display: flex; flex-wrap: wrap; gap: .25rem 1rem; align-items: center; padding: .5rem 1rem; border-bottom: 1px solid var(--line); background: var(--panel); }
header.top .brand { font-weight: 700; margin-right: .5rem; }
header.top nav { display: flex; gap: .75rem; flex-wrap: wrap; }
header.top nav a[aria-current] { font-weight: 700; text-decoration: none; color: var(--fg); }
header.top form { margin-left: auto; display: flex; align-items: center; gap: .5rem; color: var(--muted); font-size: .9rem; }
header.top button { margin: 0; padding: .2rem .6rem; font-size: .9rem; }
h1 { font-size: 1.4rem; margin: .75rem 0; }
h2 { font-size: 1.1rem; margin: 1.5rem 0 .5rem; }
label { display: block; margin-top: 1rem; font-weight: 600; }
input, select { width: 100%; padding: .5rem; font-size: 1rem; margin-top: .25rem; background: var(--bg); color: var(--fg); border: 1px solid var(--muted); border-radius: 4px; }
button, .button { display: inline-block; margin-top: 1.5rem; padding: .5rem 1rem; font-size: 1rem; cursor: pointer; background: var(--accent); color: var(--accent-fg); border: 0; border-radius: 4px; text-decoration: none; }
.bar { display: flex; flex-wrap: wrap; gap: .5rem; align-items: end; margin: .5rem 0; }
.bar label { margin: 0; font-weight: 600; font-size: .8rem; }
.bar input, .bar select { width: auto; max-width: 11rem; padding: .3rem .4rem; font-size: .9rem; }
.bar input[type=search] { max-width: 18rem; width: 18rem; }
caption { text-align: left; padding: .25rem 0; }
.bar button, .bar .button { margin: 0; padding: .35rem .8rem; font-size: .9rem; }
.table-wrap { width: 100%; overflow-x: auto; }
table { width: 100%; border-collapse: collapse; table-layout: fixed; font-size: .9rem; }
th, td { text-align: left; padding: .35rem .5rem; border-bottom: 1px solid var(--line); white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
th { background: var(--panel); font-weight: 600; }
td code { font-size: .85rem; }
.c-time { width: 11rem; } .c-user, .c-login { width: 7rem; } .c-node { width: 10rem; } .c-kind { width: 5rem; } .c-dur { width: 6rem; } .c-exit { width: 5rem; } .c-type { width: 10rem; }
@media (max-width: 700px) { .c-login, .c-exit, .c-node { display: none; } .c-time { width: 8rem; } .c-user { width: 5rem; } .bar input[type=search] { width: 100%; max-width: none; } }
.pager { display: flex; gap: 1rem; align-items: center; margin: .75rem 0; color: var(--muted); }
.error { border-left: 4px solid var(--bad); padding: .5rem 1rem; background: var(--panel); }
.ok { border-left: 4px solid var(--good); padding: .5rem 1rem; background: var(--panel); }
.qr img { width: 220px; height: 220px; background: #fff; padding: 8px; }
code { font-size: .95rem; word-break: break-all; }
.muted { color: var(--muted); font-size: .9rem; }
.live { background: var(--bad); color: var(--bg); border-radius: 3px; padding: 0 .3em; font-size: .8rem; font-weight: 700; }
.badge { border: 1px solid var(--line); border-radius: 3px; padding: 0 .35em; font-size: .8rem; margin-right: .25rem; }
.verdict { font-weight: 700; padding: .1rem .5rem; border-radius: 3px; border: 2px solid; }
.verdict-verified { color: var(--good); } .verdict-altered { color: var(--bad); } .verdict-incomplete { color: var(--warn); }
dl.meta { display: grid; grid-template-columns: repeat(auto-fill, minmax(9rem, 1fr)); gap: .25rem 1rem; margin: .5rem 0; }
dl.meta div { min-width: 0; } dl.meta dt { font-size: .8rem; color: var(--muted); } dl.meta dd { margin: 0; overflow-wrap: anywhere; }
details.cmd summary { cursor: pointer; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
details.cmd pre { white-space: pre-wrap; overflow-wrap: anywhere; background: var(--panel); padding: .5rem; }
ol.events { padding-left: 1.25rem; font-size: .9rem; } ol.events li { overflow-wrap: anywhere; }
/* The whole player, seek bar included, stays on screen below the title at any window size. */
#player { width: 100%; height: min(60vh, 56vw); min-height: 12rem; }
.visually-hidden { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); white-space: nowrap; }
.connect { margin: 0; flex-wrap: nowrap; } .connect select { max-width: 7rem; }
#terminal { width: 100%; height: 70vh; min-height: 12rem; background: #000; padding: 4px; }
`;

/** The header of a logged-in page: sections, the user, and the log-out form. */
export interface PageNav {
  user: string;
  roles: readonly string[];
  csrf: string;
  current: 'sessions' | 'nodes' | 'audit' | 'other';
  auditor: boolean;
}

function header(n: PageNav): Html {
  const link = (href: string, key: PageNav['current'], label: string) => html`<a href="${href}" ${key === n.current ? raw('aria-current="page"') : ''}>${label}</a>`;
  return html`<header class="top"><span class="brand">tollgate</span>
<nav aria-label="Sections">${link('/web/sessions', 'sessions', 'Sessions')}${link('/web/nodes', 'nodes', 'Nodes')}${n.auditor ? link('/web/audit', 'audit', 'Audit log') : ''}</nav>
<form method="post" action="/web/logout" id="logout"><input type="hidden" name="csrf" value="${n.csrf}"><span>${n.user} (${n.roles.join(', ')})</span><button type="submit">Log out</button></form></header>`;
}

/** A page of the UI; with `nav` it is a logged-in page (header, full width). */
export function layout(title: string, body: Html, o: { nav?: PageNav; head?: Html } = {}): Html {
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${title} · tollgate</title>
<link rel="stylesheet" href="/web/assets/app.css">
${o.head ?? ''}
</head>
<body>
${o.nav ? header(o.nav) : ''}
<main${o.nav ? raw(' class="wide"') : ''}>
${body}
</main>
</body>
</html>`;
}

export interface SignupPageData {
  token: string;
  user: string;
  cluster: string;
  expiresAt: string;
  otp?: { secret: string; qrDataUrl: string };
  error?: string;
  minLength: number;
}

export function signupPage(d: SignupPageData): Html {
  return layout(
    'Complete your signup',
    html`<h1>Welcome to ${d.cluster}, ${d.user}</h1>
<p>Choose a password to finish setting up your account. This link works once and expires at <time>${d.expiresAt}</time>.</p>
${d.error ? html`<p class="error" role="alert" id="error">${d.error}</p>` : ''}
<form method="post" action="/web/invite/${d.token}" id="signup">
<label for="password">Password (at least ${d.minLength} characters)</label>
<input id="password" name="password" type="password" autocomplete="new-password" minlength="${d.minLength}" required>
<label for="confirm">Confirm password</label>
<input id="confirm" name="confirm" type="password" autocomplete="new-password" minlength="${d.minLength}" required>
${
  d.otp
    ? html`<label>Two-factor authentication</label>
<p>Scan this code with an authenticator app (Google Authenticator, 1Password, ...), or enter the secret by hand.</p>
<p class="qr"><img id="otp-qr" alt="QR code for your authenticator app" src="${raw(d.otp.qrDataUrl)}"></p>
<p>Secret: <code id="otp-secret">${d.otp.secret}</code></p>
<label for="otp_code">Code from the app</label>
<input id="otp_code" name="otp_code" inputmode="numeric" autocomplete="one-time-code" pattern="[0-9]{6}" maxlength="6" required>`
    : ''
}
<button type="submit" id="submit">Create account</button>
</form>`,
  );
}

export function signupDonePage(user: string, proxy: string): Html {
  return layout(
    'Signup complete',
    html`<h1>You are all set, ${user}</h1>
<p class="ok" id="done">Your account is ready.</p>
<p>Log in from your terminal:</p>
<pre><code>tsh login --proxy=${proxy} --user=${user}</code></pre>`,
  );
}

export function invalidLinkPage(message: string, hint: string | undefined): Html {
  return layout(
    'Signup link not valid',
    html`<h1>This signup link cannot be used</h1>
<p class="error" role="alert" id="error">${message}.</p>
${hint ? html`<p>${hint.charAt(0).toUpperCase() + hint.slice(1)}.</p>` : ''}`,
  );
}

export function notFoundPage(): Html {
  return layout('Not found', html`<h1>Not found</h1><p>There is nothing at this address.</p>`);
}
