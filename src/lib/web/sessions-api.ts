import fs from 'node:fs';
import { PassThrough, Readable } from 'node:stream';
import type { HttpBindings } from '@hono/node-server';
import type { Context, Hono } from 'hono';
import { sealedOf, sessionToJson } from '../recording/session-json.js';
import type { AuthService } from '../auth/auth-service.js';
import type { LoginService } from '../auth/login-service.js';
import { accessDenied, badParameter, notFound } from '../errors.js';
import { exportMeta } from '../recording/export-meta.js';
import { writeHtmlExport } from '../recording/html-export.js';
import { verifyRecording } from '../recording/verify.js';
import type { RecordingService } from '../recording/session-recorder.js';
import type { SessionRecord, Store, UserRecord } from '../store/types.js';
import { cookieToken } from './ui.js';

type Env = { Bindings: Partial<HttpBindings> };

export interface SessionsApiOptions {
  auth: AuthService;
  login: LoginService;
  store: Store;
  recordings: RecordingService;
}

/** tsh sends a bearer token; the browser its HttpOnly session cookie (SameSite=Strict, GET only here). */
function bearer(c: Context<Env>): string {
  const token = /^Bearer (\S+)$/.exec(c.req.header('authorization') ?? '')?.[1] ?? cookieToken(c);
  if (!token) throw accessDenied('log in first', 'tsh login --proxy=HOST');
  return token;
}

function parseTime(text: string | undefined, what: string): number | undefined {
  if (text === undefined) return undefined;
  const t = Date.parse(text);
  if (Number.isNaN(t)) throw badParameter(`${what} "${text}" is not a date`, 'use an ISO date such as 2026-11-25 or 2026-11-25T10:00:00Z');
  return t;
}

/**
 * Recorded sessions over the web API (bearer token from tsh login). Roles: `access` sees its own
 * sessions, `auditor` everyone's; every refusal is audited.
 */
export function mountSessionsApi(app: Hono<Env>, o: SessionsApiOptions): void {
  const isAuditor = (u: UserRecord) => u.roles.includes('auditor');
  const addr = (c: Context<Env>) => c.env?.incoming?.socket?.remoteAddress ?? 'unknown';
  const deny = async (c: Context<Env>, user: UserRecord, what: string): Promise<never> => {
    await o.auth.audit('session.access_denied', user.name, { what, addr: addr(c) });
    throw accessDenied(`access denied: ${what}`, 'ask for the auditor role to see other users\' sessions');
  };
  const visible = async (c: Context<Env>, user: UserRecord, id: string): Promise<SessionRecord> => {
    const s = /^[0-9a-f-]{36}$/.test(id) ? await o.store.getSession(id) : undefined;
    if (!s) throw notFound(`no recording with id ${id}`, 'see tsh recordings ls');
    if (s.user !== user.name && !isAuditor(user)) return deny(c, user, `session ${id} of ${s.user}`);
    return s;
  };

  app.get('/webapi/sessions', async (c) => {
    const user = await o.login.userForToken(bearer(c));
    const wanted = c.req.query('user');
    if (wanted !== undefined && wanted !== user.name && !isAuditor(user)) await deny(c, user, `sessions of ${wanted}`);
    const limit = Number(c.req.query('limit') ?? 1000);
    if (!Number.isInteger(limit) || limit < 1 || limit > 10_000) throw badParameter('limit must be between 1 and 10000');
    const rows = await o.store.listSessions({
      user: isAuditor(user) ? wanted : user.name,
      since: parseTime(c.req.query('from'), 'from'),
      until: parseTime(c.req.query('to'), 'to'),
      limit,
    });
    return c.json(rows.map(sessionToJson));
  });

  app.get('/webapi/sessions/:id', async (c) => {
    const user = await o.login.userForToken(bearer(c));
    return c.json(sessionToJson(await visible(c, user, c.req.param('id'))));
  });

  app.get('/webapi/sessions/:id/stream', async (c) => {
    const user = await o.login.userForToken(bearer(c));
    const s = await visible(c, user, c.req.param('id'));
    const cast = await o.recordings.storage.open(s.id, 'cast');
    if (!cast) throw notFound(`the recording of session ${s.id} is missing from storage`);
    await o.auth.audit('session.replay', user.name, { sid: s.id, owner: s.user, addr: addr(c) });
    // Streamed from storage: a 1 GiB recording is never held in memory.
    const body = Readable.toWeb(cast) as ReadableStream;
    return new Response(body, {
      headers: {
        'content-type': 'application/x-asciicast',
        'content-disposition': `attachment; filename="${s.id}.cast"`,
        'cache-control': 'no-store',
      },
    });
  });

  // The integrity data beside the recording (hash chain + signed checkpoints, detached SSHSIG), so
  // tsh verifies what it downloaded with the recording key it pinned at login.
  app.get('/webapi/sessions/:id/integrity', async (c) => {
    const user = await o.login.userForToken(bearer(c));
    const s = await visible(c, user, c.req.param('id'));
    const read = async (part: 'chain' | 'sig'): Promise<string | null> => {
      const src = await o.recordings.storage.open(s.id, part);
      if (!src) return null;
      const chunks: Buffer[] = [];
      for await (const chunk of src) chunks.push(chunk as Buffer);
      return Buffer.concat(chunks).toString('utf8');
    };
    c.header('cache-control', 'no-store');
    return c.json({ chain: await read('chain'), sig: await read('sig') });
  });

  // One self-contained HTML file (player, recording and verification result inline) for people
  // without an account; verified here, at export time, with the cluster's recording key.
  app.get('/webapi/sessions/:id/export.html', async (c) => {
    const user = await o.login.userForToken(bearer(c));
    const s = await visible(c, user, c.req.param('id'));
    const local = await o.recordings.storage.materialize(s.id);
    if (!local) throw notFound(`the recording of session ${s.id} is missing from storage`);
    const file = local.castFile;
    const out = new PassThrough();
    try {
      const signer = o.auth.recordingSigner;
      const sealed = sealedOf(s);
      const verification = await verifyRecording({ castFile: file, session: s.id, publicBlob: signer.publicBlob, namespace: signer.namespace, expectIntegrity: true, sealed });
      await o.auth.audit('session.export', user.name, { sid: s.id, owner: s.user, addr: addr(c), format: 'html', verdict: verification.verdict });
      writeHtmlExport(fs.createReadStream(file), out, exportMeta(s.id, file, sessionToJson(s), verification, Date.now())).then(
        () => {
          out.end();
          local.cleanup();
        },
        (err: Error) => {
          out.destroy(err);
          local.cleanup();
        },
      );
    } catch (err) {
      local.cleanup();
      throw err;
    }
    return new Response(Readable.toWeb(out) as ReadableStream, {
      headers: {
        'content-type': 'text/html; charset=utf-8',
        'content-disposition': `attachment; filename="tollgate-${s.id}.html"`,
        'cache-control': 'no-store',
      },
    });
  });
}
