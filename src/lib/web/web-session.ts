import crypto from 'node:crypto';
import type { HttpBindings } from '@hono/node-server';
import type { Context } from 'hono';
import { getCookie, setCookie } from 'hono/cookie';
import type { AuthService, LoginService, NodeInventory } from '../auth/index.js';
import { accessDenied } from '../errors.js';
import type { RecordingService } from '../recording/index.js';
import type { Store, UserRecord } from '../store/index.js';
import type { LiveView } from './live-view.js';
import type { PageNav } from './pages.js';
import type { SessionAccess } from './session-access.js';

/*
 * The browser's session: an HttpOnly cookie holding a web API token, and a double-submit CSRF
 * token (a second cookie, echoed in every form and in the terminal's WebSocket URL).
 */

export type Env = { Bindings: Partial<HttpBindings> };

export const SESSION_COOKIE = 'tg_session';
export const CSRF_COOKIE = 'tg_csrf';
export const cookieOpts = { httpOnly: true, secure: true, sameSite: 'Strict' as const, path: '/' };

/** What the pages need, injected by web-app.ts. */
export interface UiContext {
  auth: AuthService;
  login: LoginService;
  access: SessionAccess;
  store: Store;
  recordings: RecordingService;
  clusterName: string;
  live?: LiveView;
  inventory?: NodeInventory;
}

/** The browser's session token: the HttpOnly cookie, never readable by scripts. */
/** tsh sends a bearer token; the browser its HttpOnly session cookie. Access denied without either. */
export function requestToken(c: Context<Env>): string {
  const token = /^Bearer (\S+)$/.exec(c.req.header('authorization') ?? '')?.[1] ?? cookieToken(c);
  if (!token) throw accessDenied('log in first', 'tsh login --proxy=HOST');
  return token;
}

export function cookieToken(c: Context<Env>): string | undefined {
  return getCookie(c, SESSION_COOKIE);
}

/** The CSRF token of this browser, created on first use. */
export function csrfToken(c: Context<Env>): string {
  let t = getCookie(c, CSRF_COOKIE);
  if (!t || !/^[0-9a-f]{64}$/.test(t)) {
    t = crypto.randomBytes(32).toString('hex');
    setCookie(c, CSRF_COOKIE, t, cookieOpts);
  }
  return t;
}

/** Constant-time comparison of the CSRF cookie with what the page sent back. */
export function csrfMatches(cookie: string | undefined, sent: string): boolean {
  return Boolean(cookie) && cookie!.length === sent.length && crypto.timingSafeEqual(Buffer.from(cookie!), Buffer.from(sent));
}

export function checkCsrf(c: Context<Env>, form: Record<string, unknown>): void {
  if (!csrfMatches(getCookie(c, CSRF_COOKIE), typeof form.csrf === 'string' ? form.csrf : '')) {
    throw accessDenied('the form expired or came from another site', 'reload the page and try again');
  }
}

export const clientAddr = (c: Context<Env>) => c.env?.incoming?.socket?.remoteAddress ?? 'unknown';

/** The logged-in user, or undefined (no cookie, expired, user gone). */
export async function webUser(c: Context<Env>, login: LoginService): Promise<UserRecord | undefined> {
  const t = cookieToken(c);
  if (!t) return undefined;
  try {
    return await login.userForToken(t);
  } catch {
    return undefined;
  }
}

export function pageNav(c: Context<Env>, user: UserRecord, current: PageNav['current'], access: SessionAccess): PageNav {
  return { user: user.name, roles: user.roles, csrf: csrfToken(c), current, auditor: access.isAuditor(user) };
}
