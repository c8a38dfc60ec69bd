import { z } from 'zod';
import { parseHostPort } from '../address.js';
import { sessionJson } from '../recording/index.js';
import { limitParam, raw, route } from './route-table.js';

/*
 * The web API tsh calls on the proxy (HTTPS, JSON): login and the recorded sessions. web-app.ts and
 * sessions-api.ts register one handler per entry; WebClient.call()/open() take an entry and its
 * typed input and validate the answer. (Signup is not here: the browser's pages call it.)
 */

/*
 * What tsh takes from a proxy ends up in file names, known_hosts patterns and `tsh config` output
 * (an ssh_config a fake proxy must not be able to add lines to), so the answer's fields that become
 * names are held to their syntax here, where the reply is decoded, before anything uses them.
 */
/** A cluster name as config accepts it (DNS-style): no spaces, quotes, newlines or path separators. */
export const clusterNameSchema = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9.-]{0,252}$/, 'is not a DNS-style cluster name');
/** `host:port` as parseHostPort reads it (a DNS name or an IP literal, port 1-65535). */
export const hostPortSchema = z.string().max(300).refine((a) => typeof parseHostPort(a) !== 'string', 'is not a host:port address');
/** A registered node's name: one DNS label (auth/inventory.ts NODE_NAME). */
export const nodeNameSchema = z.string().regex(/^(?![0-9]+$)[A-Za-z0-9][A-Za-z0-9_-]{0,62}$/, 'is not a node name');

export const pingResponse = z.object({
  cluster_name: clusterNameSchema,
  server_version: z.string().max(100),
  auth: z.object({ type: z.string(), second_factor: z.enum(['off', 'otp']) }),
  proxy: z.object({ ssh: z.object({ listen_addr: hostPortSchema, public_addr: hostPortSchema.optional() }) }),
  host_ca: z.string(),
  /** The recording key as an `allowed_signers` line (absent from older proxies). */
  recording_signers: z.string().optional(),
});
export type PingResponse = z.infer<typeof pingResponse>;

export const certsRequest = z.strictObject({
  user: z.string().min(1).max(128),
  password: z.string().min(1).max(1024),
  otp_code: z.string().max(16).optional(),
  pub_key: z.string().min(1).max(16_384),
  /** Requested certificate lifetime in seconds; capped by auth_service.max_session_ttl. */
  ttl_seconds: z.number().int().positive().max(10 * 365 * 86_400).optional(),
});

export const certsResponse = z.object({
  user: z.string().max(128),
  logins: z.array(z.string().max(256)),
  cert: z.string(),
  host_ca: z.string(),
  valid_before: z.string(),
  token: z.string(),
  token_expires: z.string(),
});
export type CertsResponse = z.infer<typeof certsResponse>;

/** An ISO date in the query (`from`, `to`), as epoch ms. */
const dateParam = (what: string) =>
  z
    .string()
    .optional()
    .transform((text, ctx) => {
      if (text === undefined) return undefined;
      const t = Date.parse(text);
      if (Number.isNaN(t)) {
        ctx.addIssue({ code: 'custom', message: `${what} "${text}" is not a date`, params: { hint: 'use an ISO date such as 2026-11-25 or 2026-11-25T10:00:00Z' } });
        return z.NEVER;
      }
      return t;
    });

/** One line found by a search: `id` is the session's, `offset` is where `tsh play ID --from=OFFSET` starts. */
export const searchHitJson = z.object({
  id: z.string(),
  user: z.string(),
  login: z.string(),
  node: z.string(),
  started_at: z.string(),
  offset: z.string(),
  offset_ms: z.number(),
  line: z.string(),
  before: z.string().nullable(),
  after: z.string().nullable(),
});
export type SearchHitJson = z.infer<typeof searchHitJson>;

/** Login and logout: served with or without the sessions API. */
export const loginRoutes = {
  ping: route({ method: 'GET', path: '/webapi/ping', response: pingResponse }),
  /** Password (and OTP) for a certificate of the key sent, plus a bearer token for this API. */
  login: route({ method: 'POST', path: '/webapi/ssh/certs', body: certsRequest, requireJson: true, response: certsResponse }),
  /** Ends the bearer token sent, if any. */
  logout: route({ method: 'DELETE', path: '/webapi/sessions/web', response: z.object({ ok: z.literal(true) }) }),
};

/** A running session as `tsh sessions ls` and `tctl sessions ls --active` show it. */
export const liveSessionJson = z.object({
  id: z.string(),
  user: z.string(),
  login: z.string(),
  node: z.string(),
  kind: z.string(),
  started_at: z.string(),
  last_activity: z.string(),
  idle_seconds: z.number(),
  participants: z.array(z.object({ user: z.string(), mode: z.enum(['observer', 'peer']) })),
  /** Whether it runs on the daemon that answered (false: another daemon on the same PostgreSQL). */
  local: z.boolean(),
});
export type LiveSessionJson = z.infer<typeof liveSessionJson>;

/** Recorded sessions, for a logged-in user (bearer token, or the browser's cookie). */
export const sessionRoutes = {
  listSessions: route({
    method: 'GET',
    path: '/webapi/sessions',
    auth: true,
    query: z.object({ user: z.string().optional(), from: dateParam('from'), to: dateParam('to'), limit: limitParam(1000) }),
    response: z.array(sessionJson),
  }),
  /** Lines of what sessions showed (and commands typed), best match first; before `:id` so `search` is not taken for an id. */
  searchSessions: route({
    method: 'GET',
    path: '/webapi/sessions/search',
    auth: true,
    query: z.object({
      q: z.string().min(1, 'give something to search for').max(1000),
      user: z.string().optional(),
      node: z.string().optional(),
      from: dateParam('from'),
      to: dateParam('to'),
      limit: limitParam(50),
      skip: z.coerce.number().int().min(0).max(1_000_000).optional(),
    }),
    response: z.array(searchHitJson),
  }),
  /** Running sessions the user may join: their own, or everyone's for auditors. Before :id, which would match it. */
  listActiveSessions: route({ method: 'GET', path: '/webapi/sessions/active', auth: true, response: z.array(liveSessionJson) }),
  getSession: route({ method: 'GET', path: '/webapi/sessions/:id', auth: true, response: sessionJson }),
  /** The asciicast file, streamed. */
  streamSession: route({ method: 'GET', path: '/webapi/sessions/:id/stream', auth: true, response: raw('application/x-asciicast') }),
  /**
   * A running session as server-sent events for the browser's player (asciinema-player's
   * eventsource driver): first `{cols, rows, init}` painting the current screen, then
   * `[time, "o"|"r", data]` events, then `{state: "offline"}` when it ends.
   */
  watchSession: route({ method: 'GET', path: '/webapi/sessions/:id/live', auth: true, response: raw('text/event-stream') }),
  /** The byte-exact sidecar (`ID.cast.bin`), streamed; empty when the recording has none. */
  streamSessionBin: route({ method: 'GET', path: '/webapi/sessions/:id/stream.bin', auth: true, response: raw('application/octet-stream') }),
  /** The integrity data beside the recording (hash chain, detached SSHSIG), null when absent. */
  sessionIntegrity: route({
    method: 'GET',
    path: '/webapi/sessions/:id/integrity',
    auth: true,
    response: z.object({ chain: z.string().nullable(), sig: z.string().nullable() }),
  }),
  /** One self-contained HTML file: player, recording and verification result. */
  exportHtml: route({ method: 'GET', path: '/webapi/sessions/:id/export.html', auth: true, response: raw('text/html') }),
};

/** A registered node as listings show it (tsh ls, tctl nodes ls). */
export const nodeJson = z.object({
  name: nodeNameSchema,
  addr: z.string(),
  labels: z.record(z.string(), z.string()),
  added_by: z.string(),
  created_at: z.string(),
  host_key_fingerprint: z.string().nullable(),
});
export type NodeJson = z.infer<typeof nodeJson>;

/** What `teleport join openssh` sends: bounded, since anyone who can reach the proxy can send it. */
export const nodeJoinRequest = z.strictObject({
  token: z.string().min(1).max(256),
  node_name: z.string().min(1).max(63),
  address: z.string().min(1).max(300),
  labels: z.record(z.string().max(63), z.string().max(128)).refine((l) => Object.keys(l).length <= 64, 'at most 64 labels'),
  host_public_key: z.string().min(1).max(4096),
  hostnames: z.array(z.string().max(253)).max(16),
});

export const nodeJoinResponse = z.object({
  cluster_name: z.string(),
  openssh_ca: z.string(),
  host_certificate: z.string(),
});
export type NodeJoinResponse = z.infer<typeof nodeJoinResponse>;

/** The inventory: what a user may reach, and the join of a node (its token is its credential). */
export const nodeRoutes = {
  listNodes: route({ method: 'GET', path: '/webapi/nodes', auth: true, response: z.array(nodeJson) }),
  joinNode: route({ method: 'POST', path: '/webapi/nodes/join', body: nodeJoinRequest, requireJson: true, response: nodeJoinResponse }),
};

export const webApiRoutes = { ...loginRoutes, ...sessionRoutes, ...nodeRoutes };

export type NodeRoutes = typeof nodeRoutes;
export type LoginRoutes = typeof loginRoutes;
export type SessionRoutes = typeof sessionRoutes;
