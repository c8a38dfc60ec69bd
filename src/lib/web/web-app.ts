import { Hono, type Context } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { secureHeaders } from 'hono/secure-headers';
import { z } from 'zod';
import type { AuthService, LoginService, NodeInventory } from '../auth/index.js';
import { PASSWORD_MIN_LENGTH } from '../auth/index.js';
import { badParameter, httpStatusFor, isTollgateError, TollgateError } from '../errors.js';
import { jsonBody, mountRoutes } from '../http/index.js';
import type { Logger } from '../log.js';
import { loginRoutes } from '../api/index.js';
import { createSessionAccess } from './session-access.js';
import { mountNodesApi } from './nodes-api.js';
import { mountSessionsApi, type SessionsApiOptions } from './sessions-api.js';
import { mountUi } from './ui.js';
import { clientAddr, type Env } from './web-session.js';
import { TERMINAL_PAGE } from './nodes-page.js';
import type { WebTerminals } from './web-terminal.js';
import { invalidLinkPage, notFoundPage, signupDonePage, signupPage, STYLESHEET } from './pages.js';

export interface WebAppOptions {
  auth: AuthService;
  login: LoginService;
  log: Logger;
  version: string;
  /** What ping reports about the SSH proxy. */
  sshListenAddr: string;
  sshPublicAddr: string | undefined;
  /** `host:port` users type after --proxy= (shown after signup). */
  publicWebAddr: string;
  /** Recorded sessions (absent in tests of the login API alone). */
  sessions?: Omit<SessionsApiOptions, 'auth' | 'login' | 'access'>;
  /** The node inventory: tsh ls and node joins (absent in tests of the login API alone). */
  inventory?: NodeInventory;
  /** Browser terminals through the proxy's pipeline (absent without a proxy). */
  terminals?: WebTerminals;
}

/** Requests larger than this are refused (413) before they are read into memory. */
export const MAX_BODY_BYTES = 64 * 1024;


const signupBody = z.strictObject({
  password: z.string().max(1024),
  otp_code: z.string().max(16).optional(),
});

async function qrDataUrl(uri: string): Promise<string> {
  const { default: QRCode } = await import('qrcode');
  return QRCode.toDataURL(uri, { errorCorrectionLevel: 'M', margin: 1, width: 220 });
}

/** The proxy's HTTPS API and pages; testable in-process with `app.request()`. */
export function createWebApp(o: WebAppOptions): Hono<Env> {
  const { auth, login } = o;
  const app = new Hono<Env>();

  // Outermost, so it runs after secureHeaders has set the policy: xterm.js sizes its character
  // grid with <style> elements it creates, which style-src 'self' blocks. Only the terminal page
  // allows inline styles (never inline scripts).
  app.use('*', async (c, next) => {
    await next();
    if (TERMINAL_PAGE.test(c.req.path)) {
      const csp = c.res.headers.get('content-security-policy');
      if (csp) c.res.headers.set('content-security-policy', csp.replace("style-src 'self'", "style-src 'self' 'unsafe-inline'"));
    }
  });
  app.use(
    '*',
    secureHeaders({
      // 'wasm-unsafe-eval': the asciinema player's terminal emulator is WebAssembly (no JS eval).
      contentSecurityPolicy: { defaultSrc: ["'self'"], imgSrc: ["'self'", 'data:'], scriptSrc: ["'self'", "'wasm-unsafe-eval'"], styleSrc: ["'self'"], frameAncestors: ["'none'"], formAction: ["'self'"] },
      strictTransportSecurity: 'max-age=31536000',
      referrerPolicy: 'no-referrer',
    }),
  );
  app.use('*', async (c, next) => {
    await next();
    if (!c.res.headers.has('cache-control')) c.header('cache-control', 'no-store');
  });
  const limitBody = bodyLimit({
    maxSize: MAX_BODY_BYTES,
    onError: (c) => c.json({ error: { kind: 'bad-parameter', message: `request body is larger than ${MAX_BODY_BYTES} bytes` } }, 413),
  });
  app.use('*', async (c, next) => {
    try {
      return await limitBody(c, next);
    } catch (err) {
      // A body cut short (the client hung up, sent a bad chunk, or a deadline closed it) while it
      // was being counted is the client's doing, not an internal error to log with a stack.
      if ((err as NodeJS.ErrnoException)?.code === 'ECONNRESET') throw badParameter('the request body was cut short', undefined, err);
      throw err;
    }
  });

  app.onError((err, c) => {
    const e = isTollgateError(err) ? err : new TollgateError('internal', 'internal error', { cause: err });
    if (e.kind === 'internal') o.log.error('web request failed', { component: 'web', path: c.req.path, error: String((err as Error)?.stack ?? err) });
    const status = httpStatusFor(e.kind) as 400;
    if (c.req.path.startsWith('/web/')) return c.html(invalidLinkPage(e.message, e.hint), status);
    return c.json({ error: { kind: e.kind, message: e.message, hint: e.hint } }, status);
  });
  app.notFound((c) =>
    c.req.path.startsWith('/webapi/') ? c.json({ error: { kind: 'not-found', message: `no endpoint ${c.req.method} ${c.req.path}` } }, 404) : c.html(notFoundPage(), 404),
  );

  app.get('/web/assets/app.css', (c) => {
    c.header('cache-control', 'public, max-age=3600');
    return c.body(STYLESHEET, 200, { 'content-type': 'text/css; charset=utf-8' });
  });

  // ---- login (tsh): ping, certificate, logout ---------------------------------------------------
  mountRoutes(app, loginRoutes, {
    ping: () => ({
      cluster_name: auth.clusterName,
      server_version: o.version,
      auth: { type: 'local', second_factor: login.secondFactor },
      proxy: { ssh: { listen_addr: o.sshListenAddr, public_addr: o.sshPublicAddr } },
      host_ca: auth.exportCA('host', 'known-hosts', '*'),
      recording_signers: auth.exportRecordingKey(),
    }),
    login: async ({ body: b }, c) => {
      const r = await login.issueLoginCert({
        user: b.user,
        password: b.password,
        otp: b.otp_code,
        publicKey: b.pub_key,
        ttlMs: b.ttl_seconds === undefined ? undefined : b.ttl_seconds * 1000,
        addr: clientAddr(c),
      });
      return {
        user: r.user,
        logins: r.logins,
        cert: r.certificate,
        host_ca: r.hostCa,
        valid_before: r.validBefore.toISOString(),
        token: r.token,
        token_expires: r.tokenExpiresAt.toISOString(),
      };
    },
    logout: async (_req, c) => {
      const bearer = /^Bearer (\S+)$/.exec(c.req.header('authorization') ?? '')?.[1];
      if (bearer) await login.endWebSession(bearer);
      return { ok: true as const };
    },
  });

  // ---- signup: JSON API -------------------------------------------------------------------
  app.get('/webapi/invites/:token', async (c) => c.json(await login.signupInfo(c.req.param('token'))));
  app.post('/webapi/invites/:token', async (c) => {
    const b = await jsonBody(c, signupBody, { requireContentType: true });
    const user = await login.completeSignup(c.req.param('token'), b.password, b.otp_code, clientAddr(c));
    return c.json({ user });
  });

  // ---- signup: the page the invite URL opens ----------------------------------------------------
  const renderSignup = async (c: Context<Env>, token: string, error?: string, status = 200) => {
    const info = await login.signupInfo(token);
    return c.html(
      signupPage({
        token,
        user: info.user,
        cluster: auth.clusterName,
        expiresAt: info.expires_at,
        otp: info.otp && { secret: info.otp.secret, qrDataUrl: await qrDataUrl(info.otp.uri) },
        error,
        minLength: PASSWORD_MIN_LENGTH,
      }),
      status as 200,
    );
  };
  app.get('/web/invite/:token', (c) => renderSignup(c, c.req.param('token')));
  app.post('/web/invite/:token', async (c) => {
    const token = c.req.param('token');
    const form = await c.req.parseBody();
    const password = typeof form.password === 'string' ? form.password : '';
    const confirm = typeof form.confirm === 'string' ? form.confirm : '';
    const otp = typeof form.otp_code === 'string' ? form.otp_code : undefined;
    if (password !== confirm) return renderSignup(c, token, 'The two passwords do not match.', 400);
    try {
      const user = await login.completeSignup(token, password, otp, clientAddr(c));
      return c.html(signupDonePage(user, o.publicWebAddr));
    } catch (err) {
      // A fixable mistake (weak password, wrong code) shows the form again; a dead link does not.
      if (isTollgateError(err) && err.kind === 'bad-parameter' && !/link/.test(err.message)) {
        return renderSignup(c, token, `${err.message}${err.hint ? ` (${err.hint})` : ''}.`, 400);
      }
      throw err;
    }
  });

  if (o.sessions) {
    const access = createSessionAccess({ auth, store: o.sessions.store });
    mountSessionsApi(app, { auth, login, access, ...o.sessions });
    mountUi(app, {
      auth,
      login,
      access,
      store: o.sessions.store,
      recordings: o.sessions.recordings,
      clusterName: auth.clusterName,
      ...(o.sessions.live ? { live: o.sessions.live } : {}),
      ...(o.inventory ? { inventory: o.inventory } : {}),
    });
  }

  if (o.inventory) mountNodesApi(app, { inventory: o.inventory, login });

  app.get('/', (c) => c.redirect('/web/', 302));
  return app;
}
