/** The admin part's public surface: what other folders may use. */
export { type AdminServer, type AdminServerOptions, createAdminApp, eventToJson, startAdminServer } from './admin-server.js';
