import { sessionColumns, type SessionJson } from '../lib/recording/index.js';
import type { LiveSessionJson, NodeJson } from '../lib/api/index.js';
import { formatLabels } from '../lib/labels.js';
import type { SearchHitJson } from '../lib/api/index.js';

/** Plain-text table for listings (`tctl users ls`): header, a rule, padded columns. */
export function renderTable(headers: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [line(headers), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}

/** One column of a listing's text form. */
export interface Column<T> {
  header: string;
  cell(row: T): string;
}

/**
 * Every listing's output (DESIGN.md: `--format=text|json`): a table of the columns, or a JSON
 * array of objects whose `id` comes first (`json` maps a row when it has no `id` of its own).
 */
export function renderListing<T>(format: string, rows: readonly T[], columns: readonly Column<T>[], json: (row: T) => object = (r) => r as object): string {
  if (format === 'json') return JSON.stringify(rows.map(json), null, 2);
  return renderTable(
    columns.map((c) => c.header),
    rows.map((r) => columns.map((c) => c.cell(r))),
  );
}

/** Bytes as people read them: `512 B`, `3.0 KiB`, `1.5 MiB`. */
export function formatBytes(n: number): string {
  return n >= 1 << 20 ? `${(n / (1 << 20)).toFixed(1)} MiB` : n >= 1024 ? `${(n / 1024).toFixed(1)} KiB` : `${n} B`;
}

/** The session listings' columns (tctl sessions ls, tsh recordings ls): one definition for both. */
export const SESSION_COLUMNS: readonly Column<SessionJson>[] = [
  { header: 'ID', cell: (r) => r.id },
  { header: 'User', cell: (r) => r.user },
  { header: 'Login', cell: (r) => r.login },
  { header: 'Node', cell: (r) => r.node },
  { header: 'Started', cell: (r) => r.started_at },
  { header: 'Duration', cell: (r) => sessionColumns(r).duration },
  { header: 'Exit', cell: (r) => sessionColumns(r).exit },
  { header: 'Kind', cell: (r) => r.kind },
  { header: 'Size', cell: (r) => formatBytes(r.bytes_out) },
];

/** The node listings' columns (tctl nodes ls, tsh ls). */
export const NODE_COLUMNS: readonly Column<NodeJson>[] = [
  { header: 'Node', cell: (n) => n.name },
  { header: 'Address', cell: (n) => n.addr },
  { header: 'Labels', cell: (n) => formatLabels(n.labels) },
];
/**
 * Search hits: JSON as the API gives them; text as one block per hit, the session, who, where and
 * when, then the line found (marked `>`) between the lines around it.
 */
export function renderSearchHits(format: string, hits: readonly SearchHitJson[]): string {
  if (format === 'json') return JSON.stringify(hits, null, 2);
  if (hits.length === 0) return 'no matches';
  return hits
    .map((h) =>
      [
        `${h.id}  ${h.user} as ${h.login}@${h.node}  started ${h.started_at}  at ${h.offset}`,
        ...(h.before !== null ? [`    ${h.before}`] : []),
        `  > ${h.line}`,
        ...(h.after !== null ? [`    ${h.after}`] : []),
      ].join('\n'),
    )
    .join('\n\n');
}

/** An idle time as people read it: 5s, 3m12s, 2h05m. */
export function formatIdle(seconds: number): string {
  if (seconds < 60) return `${seconds}s`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)}m${String(seconds % 60).padStart(2, '0')}s`;
  return `${Math.floor(seconds / 3600)}h${String(Math.floor((seconds % 3600) / 60)).padStart(2, '0')}m`;
}

/** The running sessions' columns (tsh sessions ls, tctl sessions ls --active). */
export const LIVE_SESSION_COLUMNS: readonly Column<LiveSessionJson>[] = [
  { header: 'ID', cell: (r) => r.id },
  { header: 'User', cell: (r) => r.user },
  { header: 'Login', cell: (r) => r.login },
  { header: 'Node', cell: (r) => r.node },
  { header: 'Kind', cell: (r) => r.kind },
  { header: 'Started', cell: (r) => r.started_at },
  { header: 'Idle', cell: (r) => (r.local ? formatIdle(r.idle_seconds) : '-') },
  { header: 'Participants', cell: (r) => (r.local ? r.participants.map((p) => `${p.user} (${p.mode})`).join(', ') || '-' : '(another proxy)') },
];
