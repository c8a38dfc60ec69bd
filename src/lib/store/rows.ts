/** Rows come back as numbers on SQLite and as strings for bigint on PostgreSQL: normalised here, once. */
export const num = (v: unknown): number => (typeof v === 'string' ? Number(v) : (v as number));
export const numOrNull = (v: unknown): number | null => (v === null || v === undefined ? null : num(v));
