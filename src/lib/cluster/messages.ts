/*
 * What the daemon's primary process and its SSH workers say to each other over node:cluster's IPC
 * channel. Everything else they share goes through the store (the session index, end requests,
 * locks) or the data dir (recordings), as separate daemons would.
 */

/** The environment variable that tells a forked process which worker slot it fills (1..N). */
export const WORKER_SLOT_ENV = 'TOLLGATE_WORKER_SLOT';
/** The primary's running configuration (JSON): a worker forked later runs with it, not with the file as it is now. */
export const WORKER_CONFIG_ENV = 'TOLLGATE_WORKER_CONFIG';
/** The daemon's join-bridge secret (hex): only its own processes hand joins to each other. */
export const WORKER_SECRET_ENV = 'TOLLGATE_WORKER_SECRET';

/** Primary → worker. */
export type ToWorker =
  | { t: 'tollgate:reload' }
  | { t: 'tollgate:reopen-log' }
  | { t: 'tollgate:shutdown' }
  | { t: 'tollgate:metrics'; id: number }
  | { t: 'tollgate:live'; id: number }
  | { t: 'tollgate:watch'; wid: number; sid: string; user: string }
  | { t: 'tollgate:unwatch'; wid: number };

/** A web viewer's events, from the worker that relays the session (see WorkerPool.watch). */
export type WatchEvent =
  | { k: 'ok' }
  | { k: 'refused'; reason: string }
  | { k: 'paint'; cols: number; rows: number; paint: string }
  | { k: 'out'; b64: string }
  | { k: 'resize'; cols: number; rows: number }
  | { k: 'status'; line: string }
  | { k: 'end'; line: string };

/** Worker → primary: `answer` replies to the request of the same `t` and `id` (an array of items). */
export type ToPrimary =
  | { t: 'tollgate:listening'; addr: string; serverId: string }
  | { t: 'tollgate:metrics' | 'tollgate:live'; id: number; answer: unknown[] }
  | { t: 'tollgate:watch-event'; wid: number; ev: WatchEvent };

/** What the primary may ask every worker (and wait for every answer). */
export type WorkerQuestion = 'tollgate:metrics' | 'tollgate:live';

export function isToWorker(m: unknown): m is ToWorker {
  return typeof m === 'object' && m !== null && typeof (m as { t?: unknown }).t === 'string' && (m as { t: string }).t.startsWith('tollgate:');
}

export const isToPrimary = isToWorker as (m: unknown) => m is ToPrimary;
