/**
 * Wire types of the admin API (tctl ↔ auth service over DATA_DIR/admin.sock): JSON, snake_case.
 * Each is a zod schema (the client validates what the daemon answers) and its inferred type.
 */
import { z } from 'zod';
import type { PublicLock, PublicUser } from '../auth/index.js';
import type { ErrorKind } from '../errors.js';
import { sessionJson, type SessionJson } from '../recording/index.js';
import type { VerifyJson } from '../recording/index.js';

export const ADMIN_SOCKET = 'admin.sock';

export interface ApiError {
  error: { kind: ErrorKind; message: string; hint?: string };
}

// ---- requests ----------------------------------------------------------------------------------
const ttlMs = z.number().int().positive().optional();
const oneOrMany = z.union([z.string(), z.array(z.string())]);

export const addUserRequest = z.strictObject({ name: z.string(), logins: oneOrMany, roles: oneOrMany.optional(), node_labels: z.string().optional(), ttl_ms: ttlMs });
export const updateUserRequest = z.strictObject({ logins: oneOrMany.optional(), roles: oneOrMany.optional(), node_labels: z.string().optional() });
export const addNodeRequest = z.strictObject({ name: z.string(), addr: z.string(), labels: z.string().optional() });
export const addTokenRequest = z.strictObject({ type: z.literal('node'), ttl_ms: ttlMs });
export const resetUserRequest = z.strictObject({ ttl_ms: ttlMs });
export const hostCertRequest = z.strictObject({ public_key: z.string(), hosts: oneOrMany, ttl_ms: ttlMs });
export const userCertRequest = z.strictObject({ user: z.string(), public_key: z.string(), ttl_ms: ttlMs });

// ---- answers -----------------------------------------------------------------------------------
export const inviteResponse = z.object({
  user: z.string(),
  url: z.string(),
  token: z.string(),
  expires_at: z.string(),
  ttl_ms: z.number(),
  /** The web proxy's TLS key pin, for `tsh login --fingerprint` (absent without a proxy in the daemon). */
  ca_pin: z.string().optional(),
});
export type InviteResponse = z.infer<typeof inviteResponse>;

const caJson = z.object({ fingerprint: z.string(), public_key: z.string() });
export const statusResponse = z.object({
  cluster_name: z.string(),
  version: z.string(),
  data_dir: z.string(),
  roles: z.array(z.string()),
  started_at: z.string(),
  users: z.number(),
  certs_pinned: z.boolean(),
  cert_source_addresses: z.array(z.string()),
  user_ca: caJson,
  host_ca: caJson,
  public_web_addr: z.string(),
  /** auth_service.session_recording: `off` means sessions are audited, not recorded. */
  session_recording: z.enum(['proxy', 'off']),
  openssh_ca: caJson,
  /** Registered nodes: agentless (per-session certificates, direct logins impossible). */
  nodes: z.array(z.object({ name: z.string(), addr: z.string(), mode: z.literal('agentless'), joined: z.boolean() })),
  /** Targets outside the inventory: the seed's agent-forwarding path, or refused. */
  unregistered_nodes: z.enum(['legacy', 'refused']),
  /** The web proxy's TLS public-key pin (`sha256:HEX`, as `ca_pin`), for `tsh login --fingerprint`; absent without a proxy. */
  web_tls_pin: z.string().optional(),
  /** teleport.workers > 1: the SSH worker processes configured, and how many accept connections now. */
  ssh_workers: z.object({ configured: z.number(), listening: z.number() }).optional(),
});
export type StatusResponse = z.infer<typeof statusResponse>;

export const certResponse = z.object({
  certificate: z.string(),
  serial: z.string(),
  key_id: z.string(),
  principals: z.array(z.string()),
  valid_after: z.string(),
  valid_before: z.string(),
});
export type CertResponse = z.infer<typeof certResponse>;

/** An audit event: these four, then the event's own flat fields (kept, not stripped). */
export const eventJson = z.looseObject({ id: z.string(), event: z.string(), time: z.string(), user: z.string().nullable() });
export type EventJson = z.infer<typeof eventJson>;

export const publicUser = z.object({
  name: z.string(),
  logins: z.array(z.string()),
  roles: z.array(z.enum(['access', 'auditor'])),
  created_at: z.string(),
  status: z.enum(['pending', 'active', 'locked']),
  node_labels: z.string(),
});
export const usersResponse = z.array(publicUser);

/** A lock (tctl lock, locks ls): auth/locks.ts PublicLock. */
export const lockJson = z.object({
  id: z.string(),
  kind: z.enum(['user', 'login', 'node', 'session']),
  target: z.string(),
  message: z.string(),
  expires_at: z.string().nullable(),
  created_by: z.string(),
  created_at: z.string(),
});
export const addLockRequest = z.strictObject({
  kind: z.enum(['user', 'login', 'node', 'session']),
  target: z.string().min(1).max(256),
  message: z.string().max(512).optional(),
  ttl_ms: z.number().int().positive().optional(),
});
/** The KRL (binary, base64 on the wire) and what it holds. */
export const krlResponse = z.object({ krl: z.string(), serials: z.number(), key_ids: z.number(), proxy_only: z.number() });
export type UsersResponse = z.infer<typeof usersResponse>;

/** A join token, and how a node uses it. */
export const joinTokenResponse = z.object({
  token: z.string(),
  type: z.literal('node'),
  expires_at: z.string(),
  ttl_ms: z.number(),
  /** The web proxy a node joins through (public_addr). */
  proxy: z.string(),
  /** `sha256:HEX` of the web proxy's TLS public key: the joining node checks it before sending the token. */
  ca_pin: z.string(),
});
export type JoinTokenResponse = z.infer<typeof joinTokenResponse>;

/** One CA or the recording key as a single line (`tctl auth export`). */
export const lineResponse = z.object({ line: z.string() });
export const deletedResponse = z.object({ deleted: z.string() });

/** A session index row: the one schema, from recording/session-json.ts (shared with the web API). */
export { sessionJson };

/** A verification result (recording/verify.ts verifyResultToJson). */
export const verifyJson = z.object({
  verdict: z.enum(['verified', 'altered', 'incomplete', 'unsigned']),
  summary: z.string(),
  verified_until: z.number(),
  verified_bytes: z.number(),
  unverified_bytes: z.number(),
  file_bytes: z.number(),
  altered_event: z.object({ index: z.number(), time: z.number().nullable(), offset: z.number() }).nullable(),
  signature: z.boolean().nullable(),
  audit: z
    .object({
      verdict: z.enum(['agrees', 'disagrees', 'none']),
      summary: z.string(),
      anchors: z.number(),
      anchored_bytes: z.number(),
      mismatch: z.object({ cp: z.union([z.number(), z.enum(['complete', 'interrupted'])]), bytes: z.number() }).nullable(),
    })
    .optional(),
});

// The schemas above describe types declared elsewhere: keep them equal (a drift fails typecheck).
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
type Assert<T extends true> = T;
export type ProtocolChecks = [
  Assert<Same<z.infer<typeof sessionJson>, SessionJson>>,
  Assert<Same<z.infer<typeof verifyJson>, VerifyJson>>,
  Assert<Same<z.infer<typeof publicUser>, PublicUser>>,
  Assert<Same<z.infer<typeof lockJson>, PublicLock>>,
];

export type { SessionJson } from '../recording/index.js';
export type { VerifyJson } from '../recording/index.js';
