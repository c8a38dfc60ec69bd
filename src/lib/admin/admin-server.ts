import { AuditEvents } from '../audit/index.js';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { getRequestListener } from '@hono/node-server';
import { Hono, type Env } from 'hono';
import { publicLock, type AuthService, type LockService, type NodeInventory } from '../auth/index.js';
import { certificateLine, fingerprint } from '../ca/index.js';
import { httpStatusFor, notFound, isTollgateError, TollgateError, unavailable } from '../errors.js';
import { mountRoutes, type Handlers } from '../http/index.js';
import type { Logger } from '../log.js';
import type { AuditEvent, Store } from '../store/index.js';
import { anchorFromFields, checkAnchors, sealedOf, sessionToJson, verifyRecording, verifyResultToJson, withAnchorCheck } from '../recording/index.js';
import type { RecordingStorage } from '../recording/index.js';
import type { CertResponse, EventJson, InviteResponse } from '../api/index.js';
import { adminRoutes, type AdminRoutes, type LiveSessionJson } from '../api/index.js';
import { reindexAll, reindexSession } from '../search/index.js';

export interface AdminServerOptions {
  auth: AuthService;
  store: Store;
  log: Logger;
  version: string;
  dataDir: string;
  roles: string[];
  /** With SSH worker processes (teleport.workers > 1): how many there are and how many listen. */
  sshWorkers?: () => { configured: number; listening: number } | undefined;
  publicWebAddr: string;
  certSourceAddresses: readonly string[];
  startedAt: Date;
  /** auth_service.session_recording, for tctl status. */
  sessionRecording: 'proxy' | 'off';
  /** Where recordings are read from (local dir or shared store). */
  recordings: RecordingStorage;
  inventory: NodeInventory;
  /** proxy_service.allow_unregistered_nodes (false: refused). */
  allowUnregisteredNodes: boolean;
  /**
   * `sha256:HEX` of the web proxy's TLS public key, for join tokens (a node checks it before it
   * sends the token); undefined until the web proxy has its certificate, or without a proxy.
   */
  webTlsPin(): string | undefined;
  /** tctl lock, locks ls, locks rm and the KRL. */
  locks: LockService;
  /** Running sessions (the proxy's live registry and the shared index); absent without a proxy. */
  live?: {
    list(): Promise<LiveSessionJson[]>;
    end(id: string, message: string, by: string): Promise<{ id: string; ended: boolean; where: 'local' | 'remote' }>;
    /** Ends this daemon's sessions that a lock names now (other daemons find the lock on their next poll). */
    enforceLocks(): Promise<void>;
    /** Ends every running session of the user, on every daemon. */
    endUserSessions(user: string, message: string, by: string): Promise<number>;
  };
}

export function eventToJson(e: AuditEvent): EventJson {
  return { ...e.fields, id: e.id, event: e.event, time: new Date(e.time).toISOString(), user: e.user };
}

function invite(i: { user: string; url: string; token: string; expiresAt: Date; ttlMs: number }, pin: string | undefined): InviteResponse {
  return { user: i.user, url: i.url, token: i.token, expires_at: i.expiresAt.toISOString(), ttl_ms: i.ttlMs, ...(pin ? { ca_pin: pin } : {}) };
}

function certJson(cert: { blob: Buffer; fields: { serial: bigint; keyId: string; principals: readonly string[]; validAfter: bigint; validBefore: bigint } }, comment: string): CertResponse {
  const f = cert.fields;
  return {
    certificate: certificateLine(cert.blob, comment),
    serial: f.serial.toString(),
    key_id: f.keyId,
    principals: [...f.principals],
    valid_after: new Date(Number(f.validAfter) * 1000).toISOString(),
    valid_before: new Date(Number(f.validBefore) * 1000).toISOString(),
  };
}

/** The handler of every admin route (routes.ts); the request arrives validated. */
function adminHandlers(o: AdminServerOptions): Handlers<AdminRoutes, Env> {
  const { auth } = o;
  const session = async (id: string) => {
    const s = await o.store.getSession(id);
    if (!s) throw notFound(`no session with id ${id}`, 'see tctl sessions ls');
    return s;
  };
  return {
    status: async () => ({
      cluster_name: auth.clusterName,
      version: o.version,
      data_dir: o.dataDir,
      roles: o.roles,
      started_at: o.startedAt.toISOString(),
      users: (await auth.listUsers()).length,
      certs_pinned: auth.certsPinned,
      cert_source_addresses: [...o.certSourceAddresses],
      user_ca: { fingerprint: fingerprint(auth.ca('user').publicBlob), public_key: auth.exportCA('user', 'openssh') },
      host_ca: { fingerprint: fingerprint(auth.ca('host').publicBlob), public_key: auth.exportCA('host', 'openssh') },
      public_web_addr: o.publicWebAddr,
      session_recording: o.sessionRecording,
      openssh_ca: { fingerprint: fingerprint(auth.ca('openssh').publicBlob), public_key: auth.exportCA('openssh', 'openssh') },
      nodes: (await o.inventory.listNodes()).map((n) => ({ name: n.name, addr: n.addr, mode: 'agentless' as const, joined: n.added_by.startsWith('join:') })),
      unregistered_nodes: o.allowUnregisteredNodes ? 'legacy' : 'refused',
      ...(o.webTlsPin() ? { web_tls_pin: o.webTlsPin() } : {}),
      ...(o.sshWorkers?.() ? { ssh_workers: o.sshWorkers()! } : {}),
    }),

    listUsers: () => auth.listUsers(),
    addUser: async ({ body: b }) => invite(await auth.createUser({ name: b.name, logins: b.logins, roles: b.roles, nodeLabels: b.node_labels, ttlMs: b.ttl_ms }), o.webTlsPin()),
    updateUser: ({ params, body: b }) => auth.updateUser(params.name, { logins: b.logins, roles: b.roles, nodeLabels: b.node_labels }, 'tctl'),
    deleteUser: async ({ params }) => {
      await auth.deleteUser(params.name);
      // Its certificates are refused from now on; sessions already running end too.
      await o.live?.endUserSessions(params.name, `user ${params.name} was deleted`, 'tctl');
      return { deleted: params.name };
    },
    resetUser: async ({ params, body }) => {
      const i = invite(await auth.resetUser(params.name, body.ttl_ms), o.webTlsPin());
      // A reset answers a compromise: running sessions were started with the old credentials.
      await o.live?.endUserSessions(params.name, `the credentials of ${params.name} were reset`, 'tctl');
      return i;
    },
    unlockUser: async ({ params }) => {
      await auth.unlockUser(params.name, 'tctl');
      return { unlocked: params.name };
    },

    listLocks: async () => (await o.locks.list()).map(publicLock),
    addLock: async ({ body: b }) => {
      const lock = await o.locks.create({ kind: b.kind, target: b.target, message: b.message, ttlMs: b.ttl_ms }, 'tctl');
      await o.live?.enforceLocks();
      return publicLock(lock);
    },
    deleteLock: async ({ params }) => {
      await o.locks.remove(params.id, 'tctl');
      return { deleted: params.id };
    },
    exportKrl: async () => {
      const k = await o.locks.exportKrl();
      return { krl: k.krl.toString('base64'), serials: k.serials, key_ids: k.keyIds, proxy_only: k.proxyOnly };
    },

    listNodes: () => o.inventory.listNodes(),
    addNode: ({ body: b }) => o.inventory.addNode({ name: b.name, addr: b.addr, labels: b.labels }, 'tctl'),
    deleteNode: async ({ params }) => {
      await o.inventory.removeNode(params.name, 'tctl');
      return { deleted: params.name };
    },
    addToken: async ({ body: b }) => {
      const pin = o.webTlsPin();
      if (!pin) throw unavailable('nodes join through the web proxy, and this daemon runs none', 'start the daemon with --roles=auth,proxy');
      const t = await o.inventory.createJoinToken(b.ttl_ms, 'tctl');
      return { token: t.token, type: 'node' as const, expires_at: t.expiresAt.toISOString(), ttl_ms: t.ttlMs, proxy: o.publicWebAddr, ca_pin: pin };
    },

    exportCa: ({ params: { type }, query }) => ({
      line: type === 'recording' ? auth.exportRecordingKey() : auth.exportCA(type, query.format, query.host_pattern),
    }),
    signHostCert: async ({ body: b }) => {
      const cert = await auth.signHostCert({ publicKey: b.public_key, hosts: b.hosts, ttlMs: b.ttl_ms }, 'tctl');
      return certJson(cert, cert.fields.keyId);
    },
    signUserCert: async ({ body: b }) => certJson(await auth.signUserCert({ user: b.user, publicKey: b.public_key, ttlMs: b.ttl_ms }, 'tctl'), b.user),

    listSessions: async ({ query }) => (await o.store.listSessions({ limit: query.limit, user: query.user })).map(sessionToJson),
    listActiveSessions: async () => (o.live ? o.live.list() : []),
    endSession: async ({ params, body }) => {
      if (!o.live) throw unavailable('this daemon runs no proxy, so it relays no sessions', 'run tctl against a daemon started with --roles=auth,proxy');
      // The end itself is audited as session.end, with this reason, when the recording closes.
      return o.live.end(params.id, body.message ?? '', 'tctl');
    },
    getSession: async ({ params }) => sessionToJson(await session(params.id)),
    verifyRecording: async ({ params: { id }, query }) => {
      const s = await session(id);
      const local = await o.recordings.materialize(id);
      if (!local) throw notFound(`the recording of session ${id} is missing from storage`);
      try {
        const signer = auth.recordingSigner;
        const r = verifyResultToJson(await verifyRecording({ castFile: local.castFile, session: id, publicBlob: signer.publicBlob, namespace: signer.namespace, expectIntegrity: true, sealed: sealedOf(s) }));
        if (query.audit !== 'yes') return r;
        // The session's anchors: its user's checkpoint events from its start on (bounded by its length).
        const events = await auth.listEvents({ types: [AuditEvents.recordingCheckpoint], user: s.user, since: s.startedAt - 60_000, ...(s.endedAt !== null ? { until: s.endedAt + 60_000 } : {}), limit: 1_000_000 });
        const anchors = events.filter((e) => e.fields.sid === id).flatMap((e) => anchorFromFields(e.fields) ?? []);
        return withAnchorCheck(r, await checkAnchors(local.castFile, anchors));
      } finally {
        local.cleanup();
      }
    },

    // One session at a time, on the admin socket: tctl waits for the result.
    reindexRecordings: async ({ body }) => {
      const ro = { store: o.store, open: (id: string) => o.recordings.open(id, 'cast'), log: o.log };
      return body.id ? [await reindexSession(ro, body.id)] : reindexAll(ro);
    },

    listEvents: async ({ query }) => (await auth.listEvents({ types: query.type, limit: query.limit, user: query.user })).map(eventToJson),
  };
}

/** The admin API (routes.ts); in-process testable with `app.request()`. */
export function createAdminApp(o: AdminServerOptions): Hono<Env> {
  const app = new Hono<Env>();

  app.onError((err, c) => {
    const e = isTollgateError(err) ? err : new TollgateError('internal', 'internal error in the auth service', { cause: err });
    if (e.kind === 'internal') o.log.error('admin request failed', { component: 'admin', path: c.req.path, error: String((err as Error)?.stack ?? err) });
    return c.json({ error: { kind: e.kind, message: e.message, hint: e.hint } }, httpStatusFor(e.kind) as 400);
  });
  app.notFound((c) => c.json({ error: { kind: 'not-found', message: `no admin endpoint ${c.req.method} ${c.req.path}` } }, 404));

  mountRoutes(app, adminRoutes, adminHandlers(o));
  return app;
}

export interface AdminServer {
  path: string;
  close(): Promise<void>;
}

/** Refuses to start over a live daemon's socket; removes a stale one left by a crash. */
async function claimSocketPath(socketPath: string): Promise<void> {
  if (!fs.existsSync(socketPath)) return;
  const live = await new Promise<boolean>((resolve) => {
    const s = net.connect(socketPath);
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
  if (live) throw unavailable(`another auth service is already running on ${socketPath}`, 'stop it first, or use another --data-dir');
  fs.unlinkSync(socketPath);
}

/** Serves the admin API on a Unix socket (0600: only the daemon's own user may administer it). */
export async function startAdminServer(socketPath: string, o: AdminServerOptions): Promise<AdminServer> {
  await claimSocketPath(socketPath);
  const app = createAdminApp(o);
  const server = http.createServer(getRequestListener(app.fetch));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    const oldMask = process.umask(0o177);
    try {
      server.listen(socketPath, () => resolve());
    } finally {
      process.umask(oldMask);
    }
  });
  fs.chmodSync(socketPath, 0o600);
  return {
    path: socketPath,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
        try {
          fs.unlinkSync(socketPath);
        } catch {
          // already gone
        }
      }),
  };
}
