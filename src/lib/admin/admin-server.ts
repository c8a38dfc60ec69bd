import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { getRequestListener } from '@hono/node-server';
import { Hono } from 'hono';
import { z } from 'zod';
import type { AuthService } from '../auth/auth-service.js';
import { certificateLine } from '../ca/certificate.js';
import { fingerprint } from '../ca/keys.js';
import { badParameter, httpStatusFor, notFound, isTollgateError, TollgateError, unavailable } from '../errors.js';
import { jsonBody } from '../http/json-body.js';
import type { Logger } from '../log.js';
import type { AuditEvent, Store } from '../store/types.js';
import { sealedOf, sessionToJson } from '../recording/session-json.js';
import { verifyRecording, verifyResultToJson } from '../recording/verify.js';
import type { RecordingStorage } from '../recording/storage.js';
import type { CertResponse, EventJson, InviteResponse, StatusResponse } from './protocol.js';

export interface AdminServerOptions {
  auth: AuthService;
  store: Store;
  log: Logger;
  version: string;
  dataDir: string;
  roles: string[];
  publicWebAddr: string;
  certSourceAddresses: readonly string[];
  startedAt: Date;
  /** Where recordings are read from (local dir or shared store). */
  recordings: RecordingStorage;
}

const ttl = z.number().int().positive().optional();
const bodies = {
  addUser: z.strictObject({ name: z.string(), logins: z.union([z.string(), z.array(z.string())]), roles: z.union([z.string(), z.array(z.string())]).optional(), ttl_ms: ttl }),
  reset: z.strictObject({ ttl_ms: ttl }),
  hostCert: z.strictObject({ public_key: z.string(), hosts: z.union([z.string(), z.array(z.string())]), ttl_ms: ttl }),
  userCert: z.strictObject({ user: z.string(), public_key: z.string(), ttl_ms: ttl }),
};

export function eventToJson(e: AuditEvent): EventJson {
  return { ...e.fields, id: e.id, event: e.event, time: new Date(e.time).toISOString(), user: e.user };
}

function invite(i: { user: string; url: string; token: string; expiresAt: Date; ttlMs: number }): InviteResponse {
  return { user: i.user, url: i.url, token: i.token, expires_at: i.expiresAt.toISOString(), ttl_ms: i.ttlMs };
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

/** The admin API routes; in-process testable with `app.request()`. */
export function createAdminApp(o: AdminServerOptions): Hono {
  const { auth } = o;
  const app = new Hono();

  app.onError((err, c) => {
    const e = isTollgateError(err) ? err : new TollgateError('internal', 'internal error in the auth service', { cause: err });
    if (e.kind === 'internal') o.log.error('admin request failed', { component: 'admin', path: c.req.path, error: String((err as Error)?.stack ?? err) });
    return c.json({ error: { kind: e.kind, message: e.message, hint: e.hint } }, httpStatusFor(e.kind) as 400);
  });
  app.notFound((c) => c.json({ error: { kind: 'not-found', message: `no admin endpoint ${c.req.method} ${c.req.path}` } }, 404));

  app.get('/v1/status', async (c) => {
    const userCa = auth.ca('user').publicBlob;
    const hostCa = auth.ca('host').publicBlob;
    const body: StatusResponse = {
      cluster_name: auth.clusterName,
      version: o.version,
      data_dir: o.dataDir,
      roles: o.roles,
      started_at: o.startedAt.toISOString(),
      users: (await auth.listUsers()).length,
      certs_pinned: auth.certsPinned,
      cert_source_addresses: [...o.certSourceAddresses],
      user_ca: { fingerprint: fingerprint(userCa), public_key: auth.exportCA('user', 'openssh') },
      host_ca: { fingerprint: fingerprint(hostCa), public_key: auth.exportCA('host', 'openssh') },
      public_web_addr: o.publicWebAddr,
    };
    return c.json(body);
  });

  app.get('/v1/users', async (c) => c.json(await auth.listUsers()));
  app.post('/v1/users', async (c) => {
    const b = await jsonBody(c, bodies.addUser);
    return c.json(invite(await auth.createUser({ name: b.name, logins: b.logins, roles: b.roles, ttlMs: b.ttl_ms })), 201);
  });
  app.delete('/v1/users/:name', async (c) => {
    await auth.deleteUser(c.req.param('name'));
    return c.json({ deleted: c.req.param('name') });
  });
  app.post('/v1/users/:name/reset', async (c) => {
    const b = await jsonBody(c, bodies.reset);
    return c.json(invite(await auth.resetUser(c.req.param('name'), b.ttl_ms)));
  });

  app.get('/v1/cas/:type', (c) => {
    const type = c.req.param('type');
    if (type === 'recording') return c.json({ line: auth.exportRecordingKey() });
    if (type !== 'user' && type !== 'host') throw badParameter(`unknown CA type "${type}"`, 'valid types: user, host, recording');
    const format = c.req.query('format') as 'openssh' | 'authorized-keys' | 'known-hosts' | undefined;
    if (format && !['openssh', 'authorized-keys', 'known-hosts'].includes(format)) {
      throw badParameter(`unknown format "${format}"`, 'valid formats: openssh, authorized-keys, known-hosts');
    }
    return c.json({ line: auth.exportCA(type, format, c.req.query('host_pattern')) });
  });

  app.post('/v1/certs/host', async (c) => {
    const b = await jsonBody(c, bodies.hostCert);
    const cert = await auth.signHostCert({ publicKey: b.public_key, hosts: b.hosts, ttlMs: b.ttl_ms }, 'tctl');
    return c.json(certJson(cert, cert.fields.keyId));
  });
  app.post('/v1/certs/user', async (c) => {
    const b = await jsonBody(c, bodies.userCert);
    const cert = await auth.signUserCert({ user: b.user, publicKey: b.public_key, ttlMs: b.ttl_ms }, 'tctl');
    return c.json(certJson(cert, b.user));
  });

  app.get('/v1/sessions', async (c) => {
    const limitText = c.req.query('limit');
    const limit = limitText === undefined ? 100 : Number(limitText);
    if (!Number.isInteger(limit) || limit < 1 || limit > 10_000) throw badParameter('limit must be between 1 and 10000');
    const rows = await o.store.listSessions({ limit, user: c.req.query('user') });
    return c.json(rows.map(sessionToJson));
  });

  app.get('/v1/sessions/:id', async (c) => {
    const s = await o.store.getSession(c.req.param('id'));
    if (!s) throw notFound(`no session with id ${c.req.param('id')}`, 'see tctl sessions ls');
    return c.json(sessionToJson(s));
  });

  app.get('/v1/recordings/:id/verify', async (c) => {
    const id = c.req.param('id');
    const s = await o.store.getSession(id);
    if (!s) throw notFound(`no session with id ${id}`, 'see tctl sessions ls');
    const local = await o.recordings.materialize(id);
    if (!local) throw notFound(`the recording of session ${id} is missing from storage`);
    try {
      const signer = auth.recordingSigner;
      const sealed = sealedOf(s);
      return c.json(verifyResultToJson(await verifyRecording({ castFile: local.castFile, session: id, publicBlob: signer.publicBlob, namespace: signer.namespace, expectIntegrity: true, sealed })));
    } finally {
      local.cleanup();
    }
  });

  app.get('/v1/events', async (c) => {
    const limitText = c.req.query('limit');
    const limit = limitText === undefined ? 100 : Number(limitText);
    if (!Number.isInteger(limit) || limit < 1 || limit > 10_000) throw badParameter('limit must be between 1 and 10000');
    const types = c.req.query('type')?.split(',').filter(Boolean);
    const user = c.req.query('user');
    const events = await auth.listEvents({ types, limit, user });
    return c.json(events.map(eventToJson));
  });

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
