/** The http part's public surface: what other folders may use. */
export { jsonBody } from './json-body.js';
export { type Handlers, mountRoutes } from './mount-routes.js';
