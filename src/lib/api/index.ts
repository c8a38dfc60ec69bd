/** The wire contracts of tollgate's two HTTP APIs (admin socket, web API): route tables and schemas shared by servers and clients. */
export { addUserRequest, ADMIN_SOCKET, type ApiError, certResponse, type CertResponse, deletedResponse, eventJson, type EventJson, hostCertRequest, inviteResponse, type InviteResponse, lineResponse, type ProtocolChecks, publicUser, resetUserRequest, statusResponse, type StatusResponse, userCertRequest, usersResponse, type UsersResponse, verifyJson } from './admin-protocol.js';
export { adminRoutes, type AdminRoutes, CA_FORMATS, CA_TYPES } from './admin-routes.js';
export { type AnyRoute, decodeReply, errorFromReply, isRawReply, type JsonRoute, limitParam, oneOf, parseInput, raw, type RawRoute, route, type RouteArgs, type RouteOutput, routePath, type RouteRequest, type RouteResult } from './route-table.js';
export { type CertsResponse, loginRoutes, type PingResponse, sessionRoutes, type SessionRoutes, webApiRoutes } from './web-routes.js';
