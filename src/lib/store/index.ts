/** The store part's public surface: what other folders may use. */
export { KyselyStore } from './kysely-store.js';
export { createSqliteStore } from './sqlite.js';
export { type AuditEvent, type CertAuthorityRecord, type EventQuery, type IssuedCertRecord, type JoinTokenRecord, type LockKind, type LockRecord, type NodeLabelRule, type NodeRecord, type RecordingChunk, type RecordingPart, type SearchHit, type SearchQuery, type SessionEndRequest, type SessionKind, type SessionLine, type SessionQuery, type SessionRecord, type SignupTokenRecord, type Store, type UserRecord, type UserRole, type WebSessionRecord } from './types.js';
export { type QueryObserver, type QueryTiming } from './query-timing.js';
export { parseSearchQuery, tokenize, type SearchTerm } from './search-query.js';
export { type LineIndexWriter, startLineIndexWriter } from './line-index-host.js';
