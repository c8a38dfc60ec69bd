import fs from 'node:fs';
import { PassThrough, Readable } from 'node:stream';
import type { Context, Hono } from 'hono';
import type { AuthService, LoginService } from '../auth/index.js';
import { accessDenied, notFound } from '../errors.js';
import { mountRoutes, type Handlers } from '../http/index.js';
import { exportMeta, writeHtmlExport, sealedOf, sessionToJson, verifyRecording } from '../recording/index.js';
import type { RecordingService } from '../recording/index.js';
import type { Store, UserRecord } from '../store/index.js';
import { sessionRoutes, type SessionRoutes } from '../api/index.js';
import type { SessionAccess } from './session-access.js';
import { clientAddr, requestToken, type Env } from './web-session.js';
import { liveEventStream, type LiveView } from './live-view.js';
import { AuditEvents } from '../audit/index.js';
import { formatOffset } from '../duration.js';


export interface SessionsApiOptions {
  auth: AuthService;
  login: LoginService;
  store: Store;
  recordings: RecordingService;
  access: SessionAccess;
  /** Running sessions (the proxy's live registry, and other daemons' from the shared index). */
  live?: LiveView;
}

/**
 * Recorded sessions over the web API (api-routes.ts), for the user of the bearer token. Who sees
 * what, and the audit of refusals, is session-access.ts.
 */
export function mountSessionsApi(app: Hono<Env>, o: SessionsApiOptions): void {
  mountRoutes(app, sessionRoutes, sessionHandlers(o), { authenticate: (c) => o.login.userForToken(requestToken(c)) });
}

function sessionHandlers(o: SessionsApiOptions): Handlers<SessionRoutes, Env, UserRecord> {
  const visible = (c: Context<Env>, user: UserRecord, id: string) => o.access.visibleSession(user, id, clientAddr(c));
  return {
    listSessions: async ({ user, query }, c) => {
      await o.access.checkListing(user, query.user, clientAddr(c));
      const rows = await o.store.listSessions({ ...o.access.scope(user, { user: query.user, since: query.from }), until: query.to, limit: query.limit });
      return rows.map(sessionToJson);
    },

    // The listing's rule: `access` searches its own sessions, `auditor` everyone's.
    searchSessions: async ({ user, query }, c) => {
      await o.access.checkListing(user, query.user, clientAddr(c));
      const hits = await o.store.searchSessions({
        text: query.q,
        ...o.access.scope(user, { user: query.user, since: query.from }),
        node: query.node,
        until: query.to,
        limit: query.limit,
        skip: query.skip,
      });
      return hits.map((h) => ({
        id: h.sessionId,
        user: h.user,
        login: h.login,
        node: h.node,
        started_at: new Date(h.startedAt).toISOString(),
        offset: formatOffset(h.offsetMs),
        offset_ms: h.offsetMs,
        line: h.line,
        before: h.before,
        after: h.after,
      }));
    },

    // Only what the user may join: their own sessions, everyone's for auditors (session-access.ts).
    listActiveSessions: async ({ user }) => {
      const all = o.live ? await o.live.list() : [];
      return o.access.isAuditor(user) ? all : all.filter((s) => s.user === user.name);
    },

    getSession: async ({ user, params }, c) => sessionToJson(await visible(c, user, params.id)),

    watchSession: async ({ user, params }, c) => {
      if (!o.live) throw notFound('this proxy serves no live sessions');
      return liveEventStream(o.live, params.id, user, clientAddr(c));
    },

    streamSession: async ({ user, params }, c) => {
      const s = await visible(c, user, params.id);
      const cast = await o.recordings.storage.open(s.id, 'cast');
      if (!cast) throw notFound(`the recording of session ${s.id} is missing from storage`);
      await o.auth.audit(AuditEvents.sessionReplay, user.name, { sid: s.id, owner: s.user, addr: clientAddr(c) });
      // Streamed from storage: a 1 GiB recording is never held in memory.
      return new Response(Readable.toWeb(cast) as ReadableStream, {
        headers: {
          'content-type': 'application/x-asciicast',
          'content-disposition': `attachment; filename="${s.id}.cast"`,
          'cache-control': 'no-store',
        },
      });
    },

    // The binary reads of the recording (`.bin`), which its markers bind; replay is audited with the .cast.
    streamSessionBin: async ({ user, params }, c) => {
      const s = await visible(c, user, params.id);
      const bin = await o.recordings.storage.open(s.id, 'bin');
      return new Response(bin ? (Readable.toWeb(bin) as ReadableStream) : null, {
        headers: { 'content-type': 'application/octet-stream', 'content-disposition': `attachment; filename="${s.id}.cast.bin"`, 'cache-control': 'no-store' },
      });
    },

    // The integrity data beside the recording (hash chain + signed checkpoints, detached SSHSIG), so
    // tsh verifies what it downloaded with the recording key it pinned at login.
    sessionIntegrity: async ({ user, params }, c) => {
      const s = await visible(c, user, params.id);
      const read = async (part: 'chain' | 'sig'): Promise<string | null> => {
        const src = await o.recordings.storage.open(s.id, part);
        if (!src) return null;
        const chunks: Buffer[] = [];
        for await (const chunk of src) chunks.push(chunk as Buffer);
        return Buffer.concat(chunks).toString('utf8');
      };
      c.header('cache-control', 'no-store');
      return { chain: await read('chain'), sig: await read('sig') };
    },

    // One self-contained HTML file (player, recording and verification result inline) for people
    // without an account; verified here, at export time, with the cluster's recording key.
    exportHtml: async ({ user, params }, c) => {
      const s = await visible(c, user, params.id);
      const local = await o.recordings.storage.materialize(s.id);
      if (!local) throw notFound(`the recording of session ${s.id} is missing from storage`);
      const file = local.castFile;
      const out = new PassThrough();
      try {
        const signer = o.auth.recordingSigner;
        const verification = await verifyRecording({ castFile: file, session: s.id, publicBlob: signer.publicBlob, namespace: signer.namespace, expectIntegrity: true, sealed: sealedOf(s) });
        await o.auth.audit(AuditEvents.sessionExport, user.name, { sid: s.id, owner: s.user, addr: clientAddr(c), format: 'html', verdict: verification.verdict });
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
    },
  };
}
