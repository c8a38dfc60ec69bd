import { html, raw } from 'hono/html';
import type { HtmlEscapedString } from 'hono/utils/html';

/*
 * Server-rendered pages: plain HTML forms that work without JavaScript, one stylesheet, no inline
 * scripts (the Content-Security-Policy forbids them).
 */
type Html = HtmlEscapedString | Promise<HtmlEscapedString>;

export const STYLESHEET = `
:root { color-scheme: light dark; font-family: system-ui, sans-serif; }
body { max-width: 34rem; margin: 3rem auto; padding: 0 1rem; line-height: 1.5; }
h1 { font-size: 1.4rem; }
label { display: block; margin-top: 1rem; font-weight: 600; }
input { width: 100%; box-sizing: border-box; padding: .5rem; font-size: 1rem; margin-top: .25rem; }
button { margin-top: 1.5rem; padding: .6rem 1.2rem; font-size: 1rem; cursor: pointer; }
.error { border-left: 4px solid #c62828; padding: .5rem 1rem; background: rgba(198,40,40,.08); }
.ok { border-left: 4px solid #2e7d32; padding: .5rem 1rem; background: rgba(46,125,50,.08); }
.qr img { width: 220px; height: 220px; background: #fff; padding: 8px; }
code { font-size: .95rem; word-break: break-all; }
.muted { color: #777; font-size: .9rem; }
.live { background: #c00; color: #fff; border-radius: 3px; padding: 0 .3em; font-size: .8rem; }
`;

export function layout(title: string, body: Html): Html {
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${title} · tollgate</title>
<link rel="stylesheet" href="/web/assets/app.css">
</head>
<body>
<main>
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
