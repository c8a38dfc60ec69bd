export * from './login.js';
export * from './profile.js';
export * from './proxy-address.js';
export * from './web-client.js';
