import type { KyselyConfig, LogEvent } from 'kysely';

/** One query's time, as the store reports it: no SQL text or parameters (they may hold secrets). */
export interface QueryTiming {
  /** Milliseconds from sending the query to its result or error. */
  ms: number;
  failed: boolean;
}

export type QueryObserver = (q: QueryTiming) => void;

/**
 * Kysely's `log` option over an observer: Kysely times every query itself (queryDurationMillis),
 * so the store needs no wrapper around each method. Empty when nobody observes.
 */
export function kyselyQueryLog(onQuery: QueryObserver | undefined): Pick<KyselyConfig, 'log'> {
  if (!onQuery) return {};
  return {
    log(event: LogEvent) {
      onQuery({ ms: event.queryDurationMillis, failed: event.level === 'error' });
    },
  };
}
