/**
 * Ids the daemon mints with crypto.randomUUID (sessions, audit events, the daemon's own id), in
 * their one canonical text form. Session ids become file names and URL path segments, so this is
 * the one check every edge (CLI argument, HTTP path, data dir file) applies before using one.
 */
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** True for a lower-case canonical UUID, the only form tollgate mints. */
export function isUuid(text: string): boolean {
  return UUID.test(text);
}
