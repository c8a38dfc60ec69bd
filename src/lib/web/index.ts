export * from './tls.js';
export * from './web-app.js';
export * from './web-server.js';
