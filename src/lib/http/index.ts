/** The http part's public surface: what other folders may use. */
export { jsonBody } from './json-body.js';
export { type Handlers, mountRoutes } from './mount-routes.js';
export { decodeReply, errorFromReply, type JsonRoute, limitParam, oneOf, raw, type RawRoute, route, type RouteArgs, type RouteOutput, routePath } from './route-table.js';
