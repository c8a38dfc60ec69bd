/** The admin part's public surface: what other folders may use. */
export { AdminClient } from './admin-client.js';
export { type AdminServer, type AdminServerOptions, createAdminApp, eventToJson, startAdminServer } from './admin-server.js';
export { addUserRequest, ADMIN_SOCKET, type ApiError, certResponse, type CertResponse, deletedResponse, eventJson, type EventJson, hostCertRequest, inviteResponse, type InviteResponse, lineResponse, type ProtocolChecks, publicUser, resetUserRequest, sessionJson, type SessionJson, statusResponse, type StatusResponse, userCertRequest, usersResponse, type UsersResponse, verifyJson, type VerifyJson } from './protocol.js';
export { adminRoutes, type AdminRoutes, CA_FORMATS, CA_TYPES } from './routes.js';
