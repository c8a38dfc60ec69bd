import crypto from 'node:crypto';
import type { Clock } from '../clock.js';
import type { Logger } from '../log.js';
import type { AuditEvent } from '../store/index.js';
import type { AuditEventName } from './events.js';

export type AuditFields = Record<string, unknown>;

/*
 * Bounds on what one audit event can hold, because clients choose much of it (an SSH user name
 * of any length, a command line, a path): a flood must not fill the store. Truncated values end
 * with TRUNCATED_MARK and the event says `truncated: true`, so nothing is cut silently.
 */
/** The event's user name. */
export const AUDIT_USER_MAX = 256;
/** Any one string in the fields (commands, paths, reasons, names). */
export const AUDIT_STRING_MAX = 2048;
/** Items kept of an array, keys of an object, and the depth walked. */
export const AUDIT_ITEMS_MAX = 64;
const AUDIT_DEPTH_MAX = 4;
/** The whole fields object as JSON; past it only the first keys' scalars are kept. */
export const AUDIT_FIELDS_MAX = 16 * 1024;
export const TRUNCATED_MARK = '…[truncated]';

function cut(s: string, max: number, state: { truncated: boolean }): string {
  if (s.length <= max) return s;
  state.truncated = true;
  return s.slice(0, max - TRUNCATED_MARK.length) + TRUNCATED_MARK;
}

function bound(v: unknown, depth: number, state: { truncated: boolean }): unknown {
  if (typeof v === 'string') return cut(v, AUDIT_STRING_MAX, state);
  if (v === null || typeof v !== 'object') return v;
  if (depth >= AUDIT_DEPTH_MAX) {
    state.truncated = true;
    return '[nested too deep]';
  }
  if (Array.isArray(v)) {
    if (v.length > AUDIT_ITEMS_MAX) state.truncated = true;
    return v.slice(0, AUDIT_ITEMS_MAX).map((x) => bound(x, depth + 1, state));
  }
  const entries = Object.entries(v as Record<string, unknown>);
  if (entries.length > AUDIT_ITEMS_MAX) state.truncated = true;
  return Object.fromEntries(entries.slice(0, AUDIT_ITEMS_MAX).map(([k, x]) => [cut(k, 128, state), bound(x, depth + 1, state)]));
}

/** The user name and fields as the audit log keeps them: every client string bounded (see above). */
export function boundAuditEvent(user: string | null, fields: AuditFields): { user: string | null; fields: AuditFields } {
  const state = { truncated: false };
  const u = user === null ? null : cut(user, AUDIT_USER_MAX, state);
  let f = bound(fields, 0, state) as AuditFields;
  if (JSON.stringify(f).length > AUDIT_FIELDS_MAX) {
    // Many long strings together: keep the short scalars (reason, addr, counts), drop the rest.
    state.truncated = true;
    f = Object.fromEntries(Object.entries(f).filter(([, x]) => typeof x !== 'object' || x === null).map(([k, x]) => [k, typeof x === 'string' ? cut(x, 256, state) : x]));
  }
  return { user: u, fields: state.truncated ? { ...f, truncated: true } : f };
}

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
  const record = async (event: AuditEventName, rawUser: string | null, rawFields: AuditFields = {}): Promise<AuditEvent> => {
    const { user, fields } = boundAuditEvent(rawUser, rawFields);
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
    emit(event, rawUser, rawFields = {}) {
      record(event, rawUser, rawFields).catch((err: Error) => {
        // Bounded here too: a log line is no place for a 30,000-character user name either.
        const { user, fields } = boundAuditEvent(rawUser, rawFields);
        log.error('cannot write an audit event; it is kept only in this log line', { event, user: user ?? undefined, error: err.message.split('\n')[0], ...fields });
      });
    },
  };
}
