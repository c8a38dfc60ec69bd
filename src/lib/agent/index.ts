export * from './agent-client.js';
export * from './agent-server.js';
export * from './agent-stream.js';
