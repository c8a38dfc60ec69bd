/** The audit log: event names and the one writer every part reports to. */
export { type AuditFields, type Auditor, type AuditorOptions, createAuditor } from './auditor.js';
export { type AuditEventName, AuditEvents } from './events.js';
