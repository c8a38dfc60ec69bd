import type { InviteResponse } from '../lib/api/index.js';
import { formatDuration } from '../lib/duration.js';

/** Teleport's wording for a signup link, so runbooks written for Teleport still read true. */
export function renderInvite(i: InviteResponse, verb: 'created' | 'reset'): string {
  const host = new URL(i.url).host;
  const what = verb === 'created' ? 'has been created but requires a password' : 'has been reset';
  return [
    `User "${i.user}" ${what}. Share this URL with the user to complete user setup, link is valid for ${formatDuration(i.ttl_ms)} (until ${i.expires_at}):`,
    i.url,
    '',
    `NOTE: Make sure ${host} points at a tollgate proxy which users can access.`,
    // The user checks the proxy's key against this at their first tsh login (or passes it).
    ...(i.ca_pin ? [`The proxy's TLS key pin is ${i.ca_pin}: give it to the user for tsh login --fingerprint=${i.ca_pin}`] : []),
  ].join('\n');
}
