export * from './agent-client.js';
export * from './agent-server.js';
