export * from './certificate.js';
export * from './cert-authority.js';
export * from './keys.js';
