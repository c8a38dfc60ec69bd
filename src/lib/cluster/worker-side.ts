import cluster from 'node:cluster';
import { isToWorker, WORKER_CONFIG_ENV, WORKER_SECRET_ENV, WORKER_SLOT_ENV, type ToPrimary, type WatchEvent } from './messages.js';

/** This process's worker slot (1..N) when it is an SSH worker forked by the daemon's primary; else undefined. */
export function workerSlot(): number | undefined {
  if (!cluster.isWorker) return undefined;
  const n = Number(process.env[WORKER_SLOT_ENV]);
  return Number.isInteger(n) && n > 0 ? n : undefined;
}

/** The configuration the primary runs with, as it handed it to this worker (parsed JSON); undefined when none was. */
export function primaryConfig(): unknown {
  const text = process.env[WORKER_CONFIG_ENV];
  return text ? (JSON.parse(text) as unknown) : undefined;
}

/** The daemon's join-bridge secret, as the primary handed it to this worker. */
export function workerSecret(): string | undefined {
  return process.env[WORKER_SECRET_ENV] || undefined;
}

/** What a worker does when its primary asks (SIGHUP, SIGUSR1 and SIGTERM of the primary, passed on). */
export interface WorkerHandlers {
  reload(): void;
  reopenLog(): void;
  /** Drain and exit. */
  shutdown(reason: string): void;
  /**
   * The primary is gone (killed, crashed: its IPC channel closed), and with it the listener and
   * the web and admin APIs. The worker exits at once, as part of the same crash: the next start
   * closes its sessions as interrupted, which it could not do while they still ran.
   */
  lost(): void;
  /** This worker's metrics as prom-client's getMetricsAsJSON() (undefined: no diag_addr). */
  metrics?: () => Promise<unknown[]>;
  /** The sessions this worker relays, with activity and participants (LiveDirectory rows). */
  live?: () => Promise<unknown[]>;
  /**
   * A web viewer (the primary checked access and audits the join) attached to session `sid` as
   * an observer: its events go to `emit`; a string is why it could not be attached.
   */
  watch?: (sid: string, user: string, emit: (ev: WatchEvent) => void) => Promise<{ detach(): void } | string>;
}

/** Wires a worker to its primary's messages; returns the remover. */
export function serveWorker(h: WorkerHandlers): () => void {
  const watches = new Map<number, { detach(): void } | 'pending'>();
  const onMessage = (m: unknown) => {
    if (!isToWorker(m)) return;
    switch (m.t) {
      case 'tollgate:watch': {
        const wid = m.wid;
        const emit = (ev: WatchEvent) => {
          if (ev.k === 'end') watches.delete(wid);
          tellPrimary({ t: 'tollgate:watch-event', wid, ev });
        };
        if (!h.watch) return emit({ k: 'refused', reason: 'not served here' });
        watches.set(wid, 'pending');
        void h.watch(m.sid, m.user, emit).then(
          (r) => {
            if (typeof r === 'string') {
              watches.delete(wid);
              return emit({ k: 'refused', reason: r });
            }
            // Dropped by the primary while attaching: detach at once.
            if (watches.get(wid) !== 'pending') return r.detach();
            watches.set(wid, r);
            emit({ k: 'ok' });
          },
          (err: Error) => {
            watches.delete(wid);
            emit({ k: 'refused', reason: err.message });
          },
        );
        return;
      }
      case 'tollgate:unwatch': {
        const w = watches.get(m.wid);
        watches.delete(m.wid);
        if (w && w !== 'pending') w.detach();
        return;
      }
      case 'tollgate:reload':
        return h.reload();
      case 'tollgate:reopen-log':
        return h.reopenLog();
      case 'tollgate:shutdown':
        return h.shutdown('the primary is stopping');
      case 'tollgate:metrics':
      case 'tollgate:live': {
        const get = (m.t === 'tollgate:metrics' ? h.metrics : h.live) ?? (async () => []);
        void get().then(
          (answer) => tellPrimary({ t: m.t, id: m.id, answer }),
          () => tellPrimary({ t: m.t, id: m.id, answer: [] }),
        );
        return;
      }
    }
  };
  const onDisconnect = () => h.lost();
  process.on('message', onMessage);
  process.on('disconnect', onDisconnect);
  return () => {
    process.off('message', onMessage);
    process.off('disconnect', onDisconnect);
  };
}

/** Sends a message to the primary (dropped when the channel is gone: the worker is stopping anyway). */
export function tellPrimary(m: ToPrimary): void {
  if (process.connected && process.send) process.send(m, undefined, {}, () => undefined);
}
