import crypto from 'node:crypto';
import type { Clock } from '../clock.js';
import type { Logger } from '../log.js';
import type { AuditEvent } from '../store/index.js';
import type { AuditEventName } from './events.js';

export type AuditFields = Record<string, unknown>;

/**
 * The audit log's one writer. Two ways to write, and neither drops a failure silently:
 * - `record` is awaited by whatever depends on the event (a session does not start unless its
 *   `session.start` is written): it rejects, and the caller refuses or ends what it was doing.
 * - `emit` is for callers that cannot wait or refuse anything more (a rejected authentication, a
 *   refused forward): a failed write is logged at error level with the whole event, so the
 *   evidence survives in the daemon's log even when the store does not take it.
 */
export interface Auditor {
  record(event: AuditEventName, user: string | null, fields?: AuditFields): Promise<AuditEvent>;
  emit(event: AuditEventName, user: string | null, fields?: AuditFields): void;
}

export interface AuditorOptions {
  append(event: AuditEvent): Promise<void>;
  clock: Clock;
  log: Logger;
  /** Sees every event once it is written (metrics count by event name and a bounded label). */
  observe?: (event: AuditEvent) => void;
}

/** An Auditor over the store's append (the store is the audit log's only home). */
export function createAuditor(o: AuditorOptions): Auditor {
  const log = o.log.child({ component: 'audit' });
  const record = async (event: AuditEventName, user: string | null, fields: AuditFields = {}): Promise<AuditEvent> => {
    const e: AuditEvent = { id: crypto.randomUUID(), event, time: o.clock.now().getTime(), user, fields };
    await o.append(e);
    log.info(event, { user: user ?? undefined, ...fields });
    try {
      o.observe?.(e);
    } catch (err) {
      // An observer (metrics) must never make a written event look failed to its caller.
      log.warn('audit observer failed', { event, error: (err as Error).message });
    }
    return e;
  };
  return {
    record,
    emit(event, user, fields = {}) {
      record(event, user, fields).catch((err: Error) =>
        log.error('cannot write an audit event; it is kept only in this log line', { event, user: user ?? undefined, error: err.message.split('\n')[0], ...fields }),
      );
    },
  };
}
