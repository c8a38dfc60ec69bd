import { formatDuration } from '../lib/duration.js';
import type { Profile } from '../lib/profile/index.js';

/** Teleport's profile block, as `tsh login` and `tsh status` print it. */
export function renderProfile(p: Profile, now: Date, extra: [string, string][] = []): string {
  const left = Date.parse(p.valid_before) - now.getTime();
  const validity = left > 0 ? `[valid for ${formatDuration(left)}]` : '[EXPIRED]';
  const rows: [string, string][] = [
    ['Profile URL', `https://${p.web_proxy_addr}`],
    ['Logged in as', p.user],
    ['Cluster', p.cluster],
    ['Logins', p.logins.join(', ')],
    ['Valid until', `${p.valid_before} ${validity}`],
    ...extra,
  ];
  return rows.map(([k, v], i) => `${i === 0 ? '>' : ' '} ${`${k}:`.padEnd(19)} ${v}`).join('\n');
}
