export * from './auth-service.js';
export * from './validate.js';
