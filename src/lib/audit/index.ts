/** The audit log: event names and the one writer every part reports to. */
export { AuditEvents, type AuditEventName } from './events.js';
export { createAuditor, type Auditor, type AuditFields, type AuditorOptions } from './auditor.js';
