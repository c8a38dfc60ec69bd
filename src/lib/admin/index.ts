export * from './admin-client.js';
export * from './admin-server.js';
export * from './protocol.js';
export * from './routes.js';
