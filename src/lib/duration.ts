import { badParameter } from './errors.js';

/**
 * Durations as Teleport writes them (Go's time.ParseDuration): "90s", "1h30m", "1.5h", "500ms".
 * A bare number is refused: "ttl: 12" is ambiguous and a silent misreading of a TTL is a security bug.
 */
const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

export function parseDuration(text: string, what = 'duration'): number {
  const s = text.trim();
  const re = /(\d+(?:\.\d+)?)(ms|s|m|h|d)/y;
  let total = 0;
  let pos = 0;
  if (s === '0') return 0;
  while (pos < s.length) {
    re.lastIndex = pos;
    const m = re.exec(s);
    if (!m) break;
    total += Number(m[1]) * UNIT_MS[m[2]!]!;
    pos = re.lastIndex;
  }
  if (s.length === 0 || pos !== s.length) {
    throw badParameter(`invalid ${what} "${text}"`, 'use a duration such as 30s, 15m, 1h or 12h30m');
  }
  return Math.round(total);
}

/** Formats milliseconds the way Go prints durations, trimmed: 3600000 → "1h", 5400000 → "1h30m". */
export function formatDuration(ms: number): string {
  if (ms <= 0) return '0s';
  if (ms < 1000) return `${ms}ms`;
  let s = Math.round(ms / 1000);
  const h = Math.floor(s / 3600);
  s -= h * 3600;
  const m = Math.floor(s / 60);
  s -= m * 60;
  return `${h ? `${h}h` : ''}${m ? `${m}m` : ''}${s ? `${s}s` : ''}` || '0s';
}

/**
 * A time into a recording (`tsh play --from`): a duration ("1m32s", "92.5s") or plain seconds
 * ("92.5"), as search results and `session.command` events print them.
 */
export function parseOffset(text: string): number {
  const s = text.trim();
  if (/^\d+(\.\d+)?$/.test(s)) return Math.round(Number(s) * 1000);
  return parseDuration(s, 'offset');
}

/** Milliseconds into a recording as `tsh play --from` takes them: 92345 → "1m32.345s", 500 → "0.5s". */
export function formatOffset(ms: number): string {
  const total = Math.max(0, Math.round(ms));
  const h = Math.floor(total / 3_600_000);
  const m = Math.floor((total % 3_600_000) / 60_000);
  const sec = (total % 60_000) / 1000;
  return `${h ? `${h}h` : ''}${h || m ? `${m}m` : ''}${Number(sec.toFixed(3))}s`;
}
