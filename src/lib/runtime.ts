import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { startAdminServer, type AdminServer } from './admin/index.js';
import { ADMIN_SOCKET } from './api/index.js';
import { AuthService, fileKeySource, fixedKeySource, LockService, LoginService, NodeInventory } from './auth/index.js';
import { systemClock, type Clock } from './clock.js';
import { formatHostPort } from './address.js';
import type { Config, DataDirSource } from './config/index.js';
import { badParameter, unavailable } from './errors.js';
import type { LogControl, Logger } from './log.js';
import { createSqliteStore, startLineIndexWriter } from './store/index.js';
import type { QueryObserver, Store } from './store/index.js';
import { tlsPublicKeyPin } from './tls-pin.js';
import { DaemonMetrics, startDiagServer, writableDirCheck, type ReadinessCheck } from './diag/index.js';
import type { HostPort } from './address.js';
import { VERSION } from './version.js';
import { loadOrCreateTls, startWebServer, type WebServer } from './web/index.js';
import { createLiveScreenWorker, HostCertificates, LiveDirectory, LiveSessions, proxyPrincipals, nodeHostKeyCheck, startSshProxy, TargetPolicy, UnrecordedSessions, UpstreamConnector, type SshProxy } from './proxy/index.js';
import { describeReload, planReload, type ReloadReport } from './reload.js';
import { createWriterPool, RECORDINGS_DIR, RecordingService, LocalDirStorage, SharedStoreStorage, type RecordingStorage } from './recording/index.js';
import { assertSsh2Patched } from './ssh/index.js';
import { createScreenWorker, createSearchIndexer } from './search/index.js';
import { isUuid } from './ids.js';

/*
 * The composition root: builds the concrete store, auth service and servers from a Config.
 * The only module that knows which store backend is in use.
 */

export const STORE_FILE = 'tollgate.db';

export interface Daemon {
  readonly config: Config;
  readonly auth: AuthService;
  readonly adminSocket: string;
  /** Where /metrics, /healthz and /readyz are served (teleport.diag_addr), if anywhere. */
  readonly diagAddress: HostPort | undefined;
  /**
   * SIGTERM: stop accepting, let running sessions finish for up to drain_timeout, end the rest
   * with a message (their recordings sealed), then close everything.
   */
  shutdown(): Promise<void>;
  /** SIGHUP: applies what can change at run time from `next`; says what it applied and what needs a restart. */
  reload(next: Config): Promise<ReloadReport>;
  close(): Promise<void>;
}

export interface DaemonOptions {
  clock?: Clock;
  /** Lets reload() change the log level of the running daemon. */
  logControl?: LogControl;
}

const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);

const DATA_DIR_REASON: Record<DataDirSource, string> = {
  flag: '--data-dir',
  config: 'teleport.data_dir',
  'system-default': 'default for root',
  'user-default': 'default for non-root users',
};

/** Creates the data dir 0700, or tightens an existing one that others could read. */
export function ensureDataDir(dir: string, log: Logger): void {
  try {
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    const mode = fs.statSync(dir).mode & 0o777;
    if (mode & 0o077) {
      fs.chmodSync(dir, 0o700);
      log.warn('tightened data dir permissions to 0700', { component: 'daemon', data_dir: dir, was: mode.toString(8) });
    }
  } catch (err) {
    throw unavailable(`cannot create data dir ${dir}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`, 'pick a writable location with --data-dir or teleport.data_dir', err);
  }
}

/** Opens the store the config names (embedded SQLite unless told otherwise) and migrates it. */
export async function openStore(config: Config, log?: Logger, onQuery?: QueryObserver, writeGate?: SharedArrayBuffer): Promise<Store> {
  if (config.storage.type === 'postgres') {
    const { createPostgresStore } = await import('./store/postgres.js');
    const store = await createPostgresStore(config.storage.connString, { logger: log, ...(onQuery ? { onQuery } : {}) });
    try {
      await store.migrate();
    } catch (err) {
      await store.close().catch((e: Error) => log?.warn('cannot close the store after a failed migration', { component: 'daemon', error: e.message }));
      throw err;
    }
    return store;
  }
  const dir = config.storage.dir ?? config.dataDir;
  try {
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  } catch (err) {
    throw unavailable(`cannot create the store directory ${dir} (teleport.storage.path): ${(err as NodeJS.ErrnoException).code ?? String(err)}`, 'pick a writable location', err);
  }
  const store = await createSqliteStore(path.join(dir, STORE_FILE), { ...(onQuery ? { onQuery } : {}), ...(writeGate ? { writeGate } : {}) });
  await store.migrate();
  return store;
}

/** Recording storage: the data dir (embedded), or the shared store with the data dir as its spool. */
function openRecordingStorage(config: Config, store: Store, log: Logger): RecordingStorage {
  const dir = path.join(config.dataDir, RECORDINGS_DIR);
  return config.storage.type === 'postgres' ? new SharedStoreStorage(dir, store, log) : new LocalDirStorage(dir, store);
}

/** This daemon's id in the shared session index, created once per data dir. */
function serverId(dataDir: string): string {
  const file = path.join(dataDir, 'server_id');
  try {
    const id = fs.readFileSync(file, 'utf8').trim();
    if (isUuid(id)) return id;
  } catch {
    // first start
  }
  const id = crypto.randomUUID();
  fs.writeFileSync(file, `${id}\n`, { mode: 0o600 });
  return id;
}

/**
 * Where per-session certificates may be used from: the proxy's upstream address
 * (upstream_bind_addr) and the proxies' addresses (cert_source_addresses); none = not pinned.
 */
function sessionCertSources(config: Config): string[] {
  const out = [...config.auth.certSourceAddresses];
  const bind = config.proxy.upstreamBindAddr;
  if (bind) out.push(net.isIPv6(bind) ? `${bind}/128` : `${bind}/32`);
  return [...new Set(out)];
}

export function adminSocketPath(config: Config): string {
  return path.join(config.dataDir, ADMIN_SOCKET);
}

/** Starts the services the config enables (today: the auth service and its admin API). */
export async function startDaemon(config: Config, log: Logger, opts: DaemonOptions = {}): Promise<Daemon> {
  const clock = opts.clock ?? systemClock;
  if (!config.auth.enabled && config.proxy.enabled) {
    throw badParameter('a proxy without a local auth service is not built yet in this version of tollgate', 'run both in one process: teleport start --roles=auth,proxy');
  }
  if (!config.auth.enabled) throw badParameter('no role to run', 'use --roles=auth (or auth,proxy)');
  // The proxy's certificates need patches/ssh2+1.17.0.patch in node_modules/ssh2: refuse a broken install up front.
  assertSsh2Patched();

  // Everything the daemon creates (store, WAL files, keys, sockets) is private to its user.
  process.umask(0o077);
  ensureDataDir(config.dataDir, log);
  // Metrics only when something can scrape them: without diag_addr no part is observed at all.
  let metrics: DaemonMetrics | undefined;
  let storageRef: RecordingStorage | undefined;
  if (config.diagAddr) {
    metrics = new DaemonMetrics({
      version: VERSION,
      backend: config.storage.type,
      ...(config.storage.type === 'postgres' ? { shipperBacklog: () => (storageRef instanceof SharedStoreStorage ? storageRef.backlogBytes() : 0) } : {}),
    });
  }
  const m = metrics;
  // Shared with the search index writer's thread (SQLite), which yields to this thread's statements.
  const writeGate = new SharedArrayBuffer(4);
  const store = await openStore(config, log, m ? (q) => m.observeQuery(q) : undefined, writeGate);
  const closers: Array<() => Promise<void>> = [() => store.close()];
  const storage = openRecordingStorage(config, store, log);
  storageRef = storage;
  const checks: ReadinessCheck[] = [{ name: 'store', check: async () => void (await store.getCertAuthority('user')) }];
  let web: WebServer | undefined;
  let ssh: SshProxy | undefined;
  let policy: TargetPolicy | undefined;
  let shuttingDown = false;
  checks.push({
    name: 'daemon',
    check: () => {
      if (shuttingDown) throw new Error('shutting down (draining sessions)');
    },
  });
  try {
    const auth = new AuthService({
      store,
      clock,
      log,
      keys: config.keys.kind === 'env' ? fixedKeySource(Buffer.from(config.keys.keyBase64, 'base64'), 'TOLLGATE_KEK') : fileKeySource(config.keys.file),
      clusterName: config.auth.clusterName,
      publicWebAddr: config.proxy.publicWebAddr,
      maxSessionTtlMs: config.auth.maxSessionTtlMs,
      certSourceAddresses: config.auth.certSourceAddresses,
      sessionCertSourceAddresses: sessionCertSources(config),
      ...(m ? { observeAudit: (e) => m.observeAudit(e) } : {}),
    });
    await auth.init();
    const inventory = new NodeInventory({
      store,
      auth,
      clock,
      log,
      reservedNames: config.proxy.enabled ? proxyPrincipals(config.proxy.listenAddr, config.proxy.publicAddrs, config.hostname) : [],
    });
    let webTlsPin: string | undefined;
    // Running sessions (tsh join, sessions ls --active, tctl sessions end): the proxy fills the
    // registry; the admin and web APIs read it through the directory, which also sees other
    // daemons' sessions in the shared index and hands them end requests through the store.
    const liveScreens = config.proxy.enabled ? createLiveScreenWorker(log) : undefined;
    if (liveScreens) closers.unshift(() => liveScreens.close());
    const live = config.proxy.enabled ? new LiveSessions({ log, now: () => clock.now().getTime(), maxViewers: config.proxy.maxSessionObservers, screens: liveScreens?.screens }) : undefined;
    const directory = live ? new LiveDirectory({ live, store, serverId: serverId(config.dataDir), now: () => clock.now().getTime(), log, auditor: auth.auditor, followRemote: config.storage.type === 'postgres' }) : undefined;
    const roles = ['auth', ...(config.proxy.enabled ? ['proxy'] : [])];
    const admin: AdminServer = await startAdminServer(adminSocketPath(config), {
      auth,
      store,
      log,
      sessionRecording: config.auth.sessionRecording,
      version: VERSION,
      dataDir: config.dataDir,
      roles,
      publicWebAddr: formatHostPort(config.proxy.publicWebAddr),
      certSourceAddresses: config.auth.certSourceAddresses,
      startedAt: clock.now(),
      recordings: storage,
      inventory,
      allowUnregisteredNodes: config.proxy.allowUnregisteredNodes,
      webTlsPin: () => webTlsPin,
      locks: new LockService({ auth, store, clock }),
      ...(directory ? { live: directory } : {}),
    });
    closers.unshift(() => admin.close());

    log.info('auth service started', {
      component: 'daemon',
      version: VERSION,
      cluster: config.auth.clusterName,
      data_dir: `${config.dataDir} (${DATA_DIR_REASON[config.dataDirSource]})`,
      config: config.file ?? 'embedded defaults',
      admin_socket: admin.path,
    });
    if (config.proxy.enabled) {
      const login = new LoginService({ auth, store, clock, log, secondFactor: config.auth.secondFactor, maxSessionTtlMs: config.auth.maxSessionTtlMs });
      // Started with the daemon, so a worker that cannot start shows at start-up.
      const writers = createWriterPool(log);
      closers.unshift(() => writers.close());
      const recordings = new RecordingService({
        store,
        storage,
        serverId: serverId(config.dataDir),
        auditor: auth.auditor,
        clock,
        maxExecRecordingSize: config.auth.maxExecRecordingSize,
        recordInput: config.auth.recordInput,
        signer: auth.recordingSigner,
        writers,
        log,
        ...(m ? { onWritten: (bytes: number, lagMs: number) => m.observeRecordingWrite(bytes, lagMs) } : {}),
      });
      await recordings.closeInterrupted();
      storage.start();
      closers.unshift(async () => {
        await recordings.close();
        await storage.stop();
      });
      const tls = await loadOrCreateTls(config, log);
      webTlsPin = tlsPublicKeyPin(tls.cert);
      web = await startWebServer(config.proxy.webListenAddr, tls, {
        auth,
        login,
        log,
        version: VERSION,
        sshListenAddr: formatHostPort(config.proxy.listenAddr),
        sshPublicAddr: config.proxy.publicAddrs[0] ? formatHostPort({ host: config.proxy.publicAddrs[0].host, port: config.proxy.listenAddr.port }) : undefined,
        publicWebAddr: formatHostPort(config.proxy.publicWebAddr),
        sessions: { store, recordings, ...(directory ? { live: directory } : {}) },
        inventory,
        // The web server starts before the SSH proxy: a browser terminal opened in between is refused.
        terminals: {
          open: (req, channel) => {
            if (!ssh) throw unavailable('the SSH proxy is still starting', 'try again in a moment');
            return ssh.openClientSession(req, channel);
          },
        },
      });
      const w = web;
      closers.unshift(() => w.close());
      log.info('web proxy listening', { component: 'daemon', addr: `https://${formatHostPort(w.address)}`, tls: tls.selfSigned ? `self-signed (${tls.certFile})` : tls.certFile });
      checks.push({
        name: 'web listener',
        check: () => {
          if (!w.listening()) throw new Error('not accepting connections');
        },
      });
      policy = new TargetPolicy(config.proxy.allowedTargets);
      const upstream = new UpstreamConnector({
        policy,
        log,
        bindAddr: config.proxy.upstreamBindAddr,
        hostKeyCheck: nodeHostKeyCheck(auth, clock, log, config.auth.proxyChecksHostKeys),
      });
      // Terminal emulation for the search indexer, in a worker thread beside the relay's.
      const emulation = createScreenWorker(log);
      closers.unshift(() => emulation.close());
      // SQLite: the search index is written by a worker thread's own connection (PostgreSQL does that work in its server).
      const lineIndex = config.storage.type === 'sqlite' ? await startLineIndexWriter(path.join(config.storage.dir ?? config.dataDir, STORE_FILE), log, writeGate) : undefined;
      if (lineIndex) closers.unshift(() => lineIndex.close());
      const indexStore = lineIndex ? { getSession: (id: string) => store.getSession(id), indexSessionLines: lineIndex.indexSessionLines } : store;
      ssh = await startSshProxy({
        listen: config.proxy.listenAddr,
        principals: proxyPrincipals(config.proxy.listenAddr, config.proxy.publicAddrs, config.hostname),
        auth,
        store,
        clock,
        log,
        // session_recording: off relays and audits without recording (RecordingService still
        // replays and verifies what was recorded before).
        recordings: config.auth.sessionRecording === 'off' ? new UnrecordedSessions({ auditor: auth.auditor }) : recordings,
        limits: { idleTimeoutMs: config.auth.clientIdleTimeoutMs, disconnectExpiredCert: config.auth.disconnectExpiredCert },
        upstream,
        hostCerts: new HostCertificates(auth.ca('host'), clock),
        policy,
        forwardAgentToNodes: config.proxy.forwardAgentToNodes,
        inventory,
        refuseUnregistered: !config.proxy.allowUnregisteredNodes,
        allowPortForwarding: config.proxy.allowPortForwarding,
        version: VERSION,
        // Optional taps, off the relay's path (dropped and audited when they fall behind): the
        // metrics tap, and the search indexer and command log. Only recorded sessions are indexed:
        // a hit is a place to play.
        optionalTaps: (sessionId, plan, recordingStart) => [
          ...(m ? [m.sessionTap(plan.kind)] : []),
          ...(config.auth.sessionRecording !== 'off' && (plan.kind === 'shell' || plan.kind === 'exec')
            ? [createSearchIndexer({ sessionId, recordingStart, screens: emulation.screens, pty: plan.pty ? { cols: plan.pty.cols, rows: plan.pty.rows } : null, store: indexStore, auditor: auth.auditor, log })]
            : []),
        ],
        ...(live ? { live } : {}),
        // Only a shared store lets another daemon's sessions be followed from here.
        ...(directory && config.storage.type === 'postgres' ? { liveDirectory: directory } : {}),
      });
      const sp = ssh;
      closers.unshift(() => sp.close());
      if (directory) {
        directory.start();
        closers.unshift(async () => directory.close());
      }
      checks.push({
        name: 'ssh listener',
        check: () => {
          if (!sp.listening()) throw new Error('not accepting connections');
        },
      });
      if (config.auth.sessionRecording === 'proxy') checks.push(writableDirCheck('recording storage', () => storage.dir));
      log.info('ssh proxy listening', {
        component: 'daemon',
        addr: formatHostPort(ssh.address),
        recordings: config.auth.sessionRecording === 'off' ? 'off (session_recording: off; sessions are audited, not recorded)' : recordings.dir,
      });
    }
    if (!auth.certsPinned) {
      log.warn('user certificates are not pinned to the proxy (auth_service.cert_source_addresses is empty): sessions can bypass recording by connecting to nodes directly', { component: 'daemon' });
    }
    let diagAddress: HostPort | undefined;
    if (m && config.diagAddr) {
      const diag = await startDiagServer(config.diagAddr, { metrics: m, checks: () => checks, log });
      // Closed just before the store: it answers (not ready, fewer sessions) while the rest drains.
      closers.splice(closers.length - 1, 0, () => diag.close());
      diagAddress = diag.address;
      log.info('diag listening', { component: 'daemon', addr: `http://${formatHostPort(diag.address)}`, serves: '/metrics /healthz /readyz' });
    }
    let closed = false;
    let current = config;
    const close = async () => {
      if (closed) return;
      closed = true;
      for (const c of closers) {
        try {
          await c();
        } catch (err) {
          log.error('error while stopping', { component: 'daemon', error: err });
        }
      }
    };
    return {
      config,
      auth,
      adminSocket: admin.path,
      diagAddress,
      async shutdown() {
        shuttingDown = true;
        web?.stopAccepting();
        if (ssh) {
          const drainMs = current.drainTimeoutMs;
          log.info('draining: no new connections; waiting for running sessions', { component: 'daemon', sessions: ssh.activeSessions(), drain_timeout: `${drainMs / 1000}s` });
          const r = await ssh.drain(drainMs, `tollgate: the proxy is shutting down and the session could not finish within ${drainMs / 1000}s (teleport.drain_timeout); the recording is saved`);
          log.info('drained', { component: 'daemon', sessions: r.waited, ended_by_shutdown: r.ended });
        }
        await close();
      },
      async reload(next) {
        const plan = planReload(current, next);
        const restart = [...plan.restart];
        // TLS files are read first, so a bad file fails the whole reload before anything changed.
        // They are read again even when their names did not change: renewing a certificate in
        // place (certbot, cert-manager) is the usual reason for a SIGHUP.
        const filesNow = Boolean(next.proxy.httpsCertFile && next.proxy.httpsKeyFile);
        const tls = web && filesNow ? await loadOrCreateTls(next, log) : undefined;
        // From files back to self-signed is a restart: the self-signed pair is made at start-up.
        if (web && !filesNow && current.proxy.httpsCertFile) restart.push('proxy_service.https_cert_file');
        if (!web && filesNow && !same(current.proxy.httpsCertFile, next.proxy.httpsCertFile)) restart.push('proxy_service.https_cert_file');
        const applied: string[] = [];
        if (plan.logLevel && opts.logControl) {
          opts.logControl.setLevel(next.logLevel);
          applied.push('teleport.log.severity');
        } else if (plan.logLevel) restart.push('teleport.log.severity');
        if (plan.allowedTargets && policy) {
          policy.update(next.proxy.allowedTargets);
          applied.push('proxy_service.allowed_targets');
        }
        if (plan.drainTimeout) applied.push('teleport.drain_timeout');
        if (web && tls) {
          web.setTls(tls);
          // Join tokens printed from now on carry the new key's pin.
          webTlsPin = tlsPublicKeyPin(tls.cert);
          applied.push('proxy_service.https_cert_file/https_key_file (read again)');
        }
        // What was applied now counts as current; what needs a restart keeps its running value.
        current = {
          ...current,
          logLevel: opts.logControl ? next.logLevel : current.logLevel,
          drainTimeoutMs: next.drainTimeoutMs,
          proxy: { ...current.proxy, allowedTargets: next.proxy.allowedTargets, ...(tls ? { httpsCertFile: next.proxy.httpsCertFile, httpsKeyFile: next.proxy.httpsKeyFile } : {}) },
        };
        const report = { reloaded: applied, restart: [...new Set(restart)].sort() };
        log.info('reloaded configuration', { component: 'daemon', ...describeReload(report) });
        return report;
      },
      close,
    };
  } catch (err) {
    for (const close of closers) {
      await close().catch((e: unknown) => log.error('error while stopping after a failed start', { component: 'daemon', error: e }));
    }
    throw err;
  }
}
