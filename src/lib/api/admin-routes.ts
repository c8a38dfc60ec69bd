import { z } from 'zod';
import { limitParam, oneOf, route } from './route-table.js';
import { liveSessionJson, nodeJson } from './web-routes.js';
import {
  addLockRequest,
  krlResponse,
  lockJson,
  addNodeRequest,
  addTokenRequest,
  addUserRequest,
  certResponse,
  deletedResponse,
  eventJson,
  hostCertRequest,
  inviteResponse,
  joinTokenResponse,
  publicUser,
  updateUserRequest,
  lineResponse,
  resetUserRequest,
  sessionJson,
  statusResponse,
  userCertRequest,
  usersResponse,
  verifyJson,
} from './admin-protocol.js';

export const CA_TYPES = ['user', 'host', 'openssh', 'recording'] as const;
export const CA_FORMATS = ['openssh', 'authorized-keys', 'known-hosts'] as const;

const caType = oneOf(CA_TYPES, (t) => `unknown CA type "${t}"`, `valid types: ${CA_TYPES.join(', ')}`);
const caFormat = oneOf(CA_FORMATS, (f) => `unknown format "${f}"`, `valid formats: ${CA_FORMATS.join(', ')}`);

/**
 * The admin API: every route tctl calls on the daemon's Unix socket. admin-server.ts registers one
 * handler per entry; AdminClient.call() takes an entry and its typed input.
 */
export const adminRoutes = {
  status: route({ method: 'GET', path: '/v1/status', response: statusResponse }),

  listUsers: route({ method: 'GET', path: '/v1/users', response: usersResponse }),
  addUser: route({ method: 'POST', path: '/v1/users', body: addUserRequest, response: inviteResponse, status: 201 }),
  deleteUser: route({ method: 'DELETE', path: '/v1/users/:name', response: deletedResponse }),
  resetUser: route({ method: 'POST', path: '/v1/users/:name/reset', body: resetUserRequest, response: inviteResponse }),
  updateUser: route({ method: 'PATCH', path: '/v1/users/:name', body: updateUserRequest, response: publicUser }),
  /** Ends a web login lockout; password, second factor and certificates stay (tctl users unlock). */
  unlockUser: route({ method: 'POST', path: '/v1/users/:name/unlock', response: z.object({ unlocked: z.string() }) }),

  /** tctl lock / locks ls / locks rm: a lock refuses new sessions and ends running ones. */
  listLocks: route({ method: 'GET', path: '/v1/locks', response: z.array(lockJson) }),
  addLock: route({ method: 'POST', path: '/v1/locks', body: addLockRequest, response: lockJson, status: 201 }),
  deleteLock: route({ method: 'DELETE', path: '/v1/locks/:id', response: deletedResponse }),
  /** The KRL for sshd's RevokedKeys on nodes that trust the user CA (tctl auth export --type=krl). */
  exportKrl: route({ method: 'GET', path: '/v1/krl', response: krlResponse }),

  listNodes: route({ method: 'GET', path: '/v1/nodes', response: z.array(nodeJson) }),
  addNode: route({ method: 'POST', path: '/v1/nodes', body: addNodeRequest, response: nodeJson, status: 201 }),
  deleteNode: route({ method: 'DELETE', path: '/v1/nodes/:name', response: deletedResponse }),
  addToken: route({ method: 'POST', path: '/v1/tokens', body: addTokenRequest, response: joinTokenResponse, status: 201 }),

  exportCa: route({
    method: 'GET',
    path: '/v1/cas/:type',
    params: z.object({ type: caType }),
    query: z.object({ format: caFormat.optional(), host_pattern: z.string().optional() }),
    response: lineResponse,
  }),
  signHostCert: route({ method: 'POST', path: '/v1/certs/host', body: hostCertRequest, response: certResponse }),
  signUserCert: route({ method: 'POST', path: '/v1/certs/user', body: userCertRequest, response: certResponse }),

  listSessions: route({
    method: 'GET',
    path: '/v1/sessions',
    query: z.object({ limit: limitParam(100), user: z.string().optional() }),
    response: z.array(sessionJson),
  }),
  /** Running sessions on every daemon of the cluster (before :id, which would match it). */
  listActiveSessions: route({ method: 'GET', path: '/v1/sessions/active', response: z.array(liveSessionJson) }),
  /** Ends a running session with a message for every participant (tctl sessions end). */
  endSession: route({
    method: 'POST',
    path: '/v1/sessions/:id/end',
    body: z.strictObject({ message: z.string().max(1024).optional() }),
    response: z.object({ id: z.string(), ended: z.boolean(), where: z.enum(['local', 'remote']) }),
  }),
  getSession: route({ method: 'GET', path: '/v1/sessions/:id', response: sessionJson }),
  /** `audit=yes`: also check the recording against its checkpoint anchors in the audit log. */
  verifyRecording: route({ method: 'GET', path: '/v1/recordings/:id/verify', query: z.object({ audit: z.enum(['yes', 'no']).optional() }), response: verifyJson }),
  /** Rebuilds the search index of one recording, or of every recording without `id`. */
  reindexRecordings: route({
    method: 'POST',
    path: '/v1/recordings/reindex',
    body: z.strictObject({ id: z.string().optional() }),
    response: z.array(z.object({ id: z.string(), lines: z.number(), skipped: z.string().optional() })),
  }),

  listEvents: route({
    method: 'GET',
    path: '/v1/events',
    query: z.object({
      limit: limitParam(100),
      /** Comma-separated event names. */
      type: z
        .string()
        .optional()
        .transform((t) => t?.split(',').filter(Boolean)),
      user: z.string().optional(),
    }),
    response: z.array(eventJson),
  }),
};

export type AdminRoutes = typeof adminRoutes;
