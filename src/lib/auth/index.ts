export * from './auth-service.js';
export * from './login-service.js';
export * from './validate.js';
