import crypto from 'node:crypto';
import { formatHostPort } from './address.js';
import { systemClock } from './clock.js';
import { tellPrimary, workerSecret, type WatchEvent } from './cluster/index.js';
import type { Config } from './config/index.js';
import { DaemonMetrics } from './diag/index.js';
import type { Logger } from './log.js';
import { createLiveScreenWorker, LiveSessions } from './proxy/index.js';
import { createWriterPool, SharedStoreStorage } from './recording/index.js';
import { describeReload, planReload, type ReloadReport } from './reload.js';
import { authParts, buildSshProxy, newDirectory, openStore, recordingService, recordingStorageFor, serverId, type DaemonOptions } from './runtime.js';
import { assertSsh2Patched } from './ssh/index.js';
import { VERSION } from './version.js';

/*
 * One SSH worker of a daemon with teleport.workers > 1 (the composition root's other half, beside
 * runtime.ts's startDaemon, which runs the primary). A worker accepts SSH connections on the
 * listen_addr the primary holds (node:cluster hands them round-robin) and relays and records
 * their sessions. Everything it shares with the primary and its siblings goes through the store
 * (session index, end requests, locks, audit) and the data dir (recordings), as separate daemons
 * share a PostgreSQL store: it has its own server id, registry of running sessions and end-request
 * poller, and no admin socket, web or diag listener (the primary serves those for all).
 */

export interface SshWorker {
  /** The drain of Daemon.shutdown, for this worker's sessions. */
  shutdown(): Promise<void>;
  /** What a worker can apply at run time: the log level, allowed_targets, drain_timeout. */
  reload(next: Config): Promise<ReloadReport>;
  /** Its metrics for the primary's /metrics (prom-client JSON); empty without diag_addr. */
  metrics(): Promise<unknown[]>;
  /** The sessions it relays, with activity and participants, for the primary's lists. */
  liveSessions(): Promise<unknown[]>;
  /** A web viewer of one of its sessions, for the primary's live view (which checked access and audits). */
  watch(sid: string, user: string, emit: (ev: WatchEvent) => void): Promise<{ detach(): void } | string>;
  close(): Promise<void>;
}

/** Starts SSH worker `slot` (1..N); the primary has migrated the store and made the keys. */
export async function startSshWorker(config: Config, log: Logger, slot: number, opts: DaemonOptions = {}): Promise<SshWorker> {
  const clock = opts.clock ?? systemClock;
  assertSsh2Patched();
  process.umask(0o077);
  let storageRef: unknown;
  const m = config.diagAddr
    ? new DaemonMetrics({
        version: VERSION,
        backend: config.storage.type,
        ...(config.storage.type === 'postgres' ? { shipperBacklog: () => (storageRef instanceof SharedStoreStorage ? storageRef.backlogBytes() : 0) } : {}),
      })
    : undefined;
  // Shared with this worker's search index writer thread (SQLite), which yields to its statements.
  const writeGate = new SharedArrayBuffer(4);
  const store = await openStore(config, log, m ? (q) => m.observeQuery(q) : undefined, false, writeGate);
  const closers: Array<() => Promise<void>> = [() => store.close()];
  const close = async () => {
    for (const c of closers.splice(0)) {
      try {
        await c();
      } catch (err) {
        log.error('error while stopping', { component: 'daemon', error: err });
      }
    }
  };
  try {
    const { auth, inventory } = await authParts(config, store, clock, log, m);
    const storage = recordingStorageFor(config, store, log, slot);
    storageRef = storage;
    const id = serverId(config.dataDir, slot);
    // The live view's terminal emulation, in a worker thread beside the relay's.
    const liveScreens = createLiveScreenWorker(log);
    closers.unshift(() => liveScreens.close());
    const live = new LiveSessions({ log, now: () => clock.now().getTime(), maxViewers: config.proxy.maxSessionObservers, screens: liveScreens.screens });
    const directory = newDirectory(config, live, store, storage, id, clock, log, auth, true);
    const writers = createWriterPool(log);
    closers.unshift(() => writers.close());
    const recordings = recordingService(config, store, storage, auth, id, clock, log, m, writers);
    // A restarted worker: the sessions its slot's last process was relaying end as interrupted.
    const interrupted = await recordings.closeInterrupted();
    if (interrupted > 0) log.info('closed interrupted sessions of this worker slot', { component: 'daemon', sessions: interrupted });
    storage.start();
    closers.unshift(async () => {
      await recordings.close();
      await storage.stop();
    });
    const built = await buildSshProxy({ config, auth, store, clock, log, m, inventory, recordings, live, directory, listen: config.proxy.listenAddr, followRemote: true, joinBridge: { serverId: id, secret: workerSecret() ?? crypto.randomBytes(32).toString('hex') }, admissionShares: config.workers, writeGate });
    closers.unshift(...built.closers);
    directory.start();
    closers.unshift(async () => directory.close());
    const { ssh, policy } = built;
    const addr = formatHostPort(ssh.address);
    log.info('ssh worker listening', { component: 'daemon', addr, server_id: id, pid: process.pid });
    tellPrimary({ t: 'tollgate:listening', addr, serverId: id });
    let current = config;
    return {
      async shutdown() {
        const drainMs = current.drainTimeoutMs;
        log.info('draining: no new connections; waiting for running sessions', { component: 'daemon', sessions: ssh.activeSessions(), drain_timeout: `${drainMs / 1000}s` });
        const r = await ssh.drain(drainMs, `tollgate: the proxy is shutting down and the session could not finish within ${drainMs / 1000}s (teleport.drain_timeout); the recording is saved`);
        log.info('drained', { component: 'daemon', sessions: r.waited, ended_by_shutdown: r.ended });
        await close();
      },
      async reload(next) {
        const plan = planReload(current, next);
        const applied: string[] = [];
        const restart = [...plan.restart];
        if (plan.logLevel && opts.logControl) {
          opts.logControl.setLevel(next.logLevel);
          applied.push('teleport.log.severity');
        } else if (plan.logLevel) restart.push('teleport.log.severity');
        if (plan.allowedTargets) {
          policy.update(next.proxy.allowedTargets);
          applied.push('proxy_service.allowed_targets');
        }
        if (plan.drainTimeout) applied.push('teleport.drain_timeout');
        current = {
          ...current,
          logLevel: opts.logControl ? next.logLevel : current.logLevel,
          drainTimeoutMs: next.drainTimeoutMs,
          proxy: { ...current.proxy, allowedTargets: next.proxy.allowedTargets },
        };
        // The HTTPS files are the primary's (it serves the web); its own line reports them.
        const report = { reloaded: applied, restart: [...new Set(restart)].sort() };
        // Not "reloaded configuration": that line is the primary's, one per SIGHUP.
        log.info('reload applied', { component: 'daemon', ...describeReload(report) });
        return report;
      },
      metrics: async () => (m ? await m.registry.getMetricsAsJSON() : []),
      liveSessions: async () => (await directory.list()).filter((s) => s.local),
      async watch(sid, user, emit) {
        const session = live.get(sid);
        if (!session) return 'not relayed here';
        return session.attach({
          user,
          mode: 'observer',
          paint: (p) => emit({ k: 'paint', cols: p.cols, rows: p.rows, paint: p.paint }),
          event: (e) => {
            if (e.type === 'output') emit({ k: 'out', b64: Buffer.from(e.data).toString('base64') });
            else if (e.type === 'resize') emit({ k: 'resize', cols: e.cols, rows: e.rows });
          },
          status: (line) => emit({ k: 'status', line }),
          end: (line) => emit({ k: 'end', line }),
        });
      },
      close,
    };
  } catch (err) {
    await close();
    throw err;
  }
}
