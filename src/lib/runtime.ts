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
import { createWriterPool, RECORDINGS_DIR, RecordingService, LocalDirStorage, SharedStoreStorage, type RecordingStorage, type WriterPool } from './recording/index.js';
import { assertSsh2Patched } from './ssh/index.js';
import { createScreenWorker, createSearchIndexer, PendingIndexWrites } from './search/index.js';
import { isUuid } from './ids.js';
import { ClusterDirectory, handOverJoin, joinSocketPath, localRecordingChunks, serveJoinBridge, WORKER_CONFIG_ENV, WORKER_SECRET_ENV, WorkerPool } from './cluster/index.js';

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
  /** A second stop signal: ends the SSH workers at once (the caller exits). */
  abort(): void;
  /** SIGUSR1 passed on to the SSH workers (each reopens its log file). */
  reopenLogs(): void;
  close(): Promise<void>;
}

/**
 * How long after drain_timeout a worker may take to finish its recordings and exit before it is
 * killed: its sessions' optional taps may take OPTIONAL_TAP_CLOSE_MS (5 s) to close, their index
 * writes INDEX_DRAIN_MS (5 s) more, and the recordings and stores then close.
 */
export const WORKER_STOP_MARGIN_MS = 15_000;

/**
 * How long the shutdown waits, once the sessions have ended, for their search index lines to be
 * written (within WORKER_STOP_MARGIN_MS); what is left then is logged (reindex rebuilds it).
 */
const INDEX_DRAIN_MS = 5_000;

/** How often each process of a daemon with SSH workers polls the store for end requests and locks. */
export const CLUSTER_END_POLL_MS = 250;

/** The directory of running sessions the APIs and the proxy share (a ClusterDirectory in a daemon with SSH workers). */
export function newDirectory(config: Config, live: LiveSessions, store: Store, storage: RecordingStorage, id: string, clock: Clock, log: Logger, auth: AuthService, clustered: boolean): LiveDirectory {
  return new (clustered ? ClusterDirectory : LiveDirectory)({
    live,
    store,
    serverId: id,
    now: () => clock.now().getTime(),
    log,
    auditor: auth.auditor,
    // Other daemons' sessions are followed through the shared store; sibling workers' through
    // their recording files in the data dir they share with this process.
    followRemote: clustered || config.storage.type === 'postgres',
    // Sibling workers hear of tctl sessions end and locks through the store: polled 4 times a second.
    ...(clustered ? { pollMs: CLUSTER_END_POLL_MS } : {}),
    ...(clustered && config.storage.type !== 'postgres' ? { chunks: localRecordingChunks((sid, part) => storage.localPath(sid, part)) } : {}),
  });
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
export async function openStore(config: Config, log?: Logger, onQuery?: QueryObserver, migrate = true, writeGate?: SharedArrayBuffer): Promise<Store> {
  if (config.storage.type === 'postgres') {
    const { createPostgresStore } = await import('./store/postgres.js');
    const store = await createPostgresStore(config.storage.connString, { logger: log, ...(onQuery ? { onQuery } : {}) });
    try {
      if (migrate) await store.migrate();
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
  if (migrate) await store.migrate();
  return store;
}

/** Recording storage: the data dir (embedded), or the shared store with the data dir as its spool. */
function openRecordingStorage(config: Config, store: Store, log: Logger): RecordingStorage {
  const dir = path.join(config.dataDir, RECORDINGS_DIR);
  return config.storage.type === 'postgres' ? new SharedStoreStorage(dir, store, log) : new LocalDirStorage(dir, store);
}

const WORKER_SERVER_ID = /^server_id\.worker-(\d+)$/;

/**
 * This daemon's id in the shared session index, created once per data dir; SSH worker `slot`
 * (teleport.workers > 1) has its own (`server_id.worker-N`), kept across its restarts, so the
 * recovery at a worker's start closes its own interrupted sessions and never a sibling's.
 */
export function serverId(dataDir: string, slot?: number): string {
  const file = path.join(dataDir, slot === undefined ? 'server_id' : `server_id.worker-${slot}`);
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
export function sessionCertSources(config: Config): string[] {
  const out = [...config.auth.certSourceAddresses];
  const bind = config.proxy.upstreamBindAddr;
  if (bind) out.push(net.isIPv6(bind) ? `${bind}/128` : `${bind}/32`);
  return [...new Set(out)];
}

/** The worker slots this data dir has seen (their server id files). */
function workerSlots(dataDir: string): number[] {
  try {
    return fs
      .readdirSync(dataDir)
      .map((f) => WORKER_SERVER_ID.exec(f)?.[1])
      .filter((n): n is string => n !== undefined)
      .map(Number);
  } catch {
    return [];
  }
}

/**
 * Where a process records: the data dir's recordings, shared by every worker with the embedded
 * store (files are per session, and the primary serves them all); with PostgreSQL each worker
 * has its own spool, so two shippers never ship the same file.
 */
export function recordingStorageFor(config: Config, store: Store, log: Logger, slot?: number): RecordingStorage {
  if (slot === undefined || config.storage.type !== 'postgres') return openRecordingStorage(config, store, log);
  return new SharedStoreStorage(path.join(config.dataDir, RECORDINGS_DIR, `worker-${slot}`), store, log);
}

/**
 * The recorder of one process (server id `id`: the daemon's, or a worker slot's); `writers`: its
 * recording threads (none for a recorder that only closes interrupted sessions).
 */
export function recordingService(config: Config, store: Store, storage: RecordingStorage, auth: AuthService, id: string, clock: Clock, log: Logger, m: DaemonMetrics | undefined, writers?: WriterPool): RecordingService {
  return new RecordingService({
    store,
    storage,
    serverId: id,
    auditor: auth.auditor,
    clock,
    maxExecRecordingSize: config.auth.maxExecRecordingSize,
    recordInput: config.auth.recordInput,
    signer: auth.recordingSigner,
    ...(writers ? { writers } : {}),
    log,
    ...(m ? { onWritten: (bytes: number, lagMs: number) => m.observeRecordingWrite(bytes, lagMs) } : {}),
  });
}

/** The auth service (its CAs loaded, created at first start) and the node inventory. */
export async function authParts(config: Config, store: Store, clock: Clock, log: Logger, m: DaemonMetrics | undefined): Promise<{ auth: AuthService; inventory: NodeInventory }> {
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
  return { auth, inventory };
}

export function adminSocketPath(config: Config): string {
  return path.join(config.dataDir, ADMIN_SOCKET);
}

export interface ProxyParts {
  config: Config;
  auth: AuthService;
  store: Store;
  clock: Clock;
  log: Logger;
  m: DaemonMetrics | undefined;
  inventory: NodeInventory;
  recordings: RecordingService;
  live: LiveSessions | undefined;
  directory: LiveDirectory | undefined;
  /** undefined: no SSH listener (the primary of SSH workers: its proxy serves web terminals only). */
  listen: HostPort | undefined;
  /** Whether tsh join through this proxy follows sessions relayed elsewhere (shared store, sibling workers). */
  followRemote: boolean;
  /**
   * This process's server id when it has sibling processes on this machine (teleport.workers > 1),
   * and the daemon's join secret: joins are handed to the process that relays the session
   * (src/lib/cluster/join-bridge.ts).
   */
  joinBridge?: { serverId: string; secret: string };
  /** Processes sharing the SSH listener, each with its share of the admission limits. */
  admissionShares?: number;
  /** The gate this process's SQLite connection raises around its statements (openStore): the search index writer yields to it. */
  writeGate?: SharedArrayBuffer;
}

/** The SSH recording proxy and what it needs beside it; `closers` stop them, first to last. */
export async function buildSshProxy(p: ProxyParts): Promise<{ ssh: SshProxy; policy: TargetPolicy; closers: Array<() => Promise<void>> }> {
  const { config, auth, store, clock, log, m, inventory, recordings, live, directory } = p;
  const closers: Array<() => Promise<void>> = [];
  const policy = new TargetPolicy(config.proxy.allowedTargets);
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
  const lineIndex = config.storage.type === 'sqlite' ? await startLineIndexWriter(path.join(config.storage.dir ?? config.dataDir, STORE_FILE), log, p.writeGate) : undefined;
  if (lineIndex) closers.unshift(() => lineIndex.close());
  const indexStore = lineIndex ? { getSession: (id: string) => store.getSession(id), indexSessionLines: lineIndex.indexSessionLines } : store;
  // Ended sessions' index lines still being written are written before the store closes (after the sessions end).
  const pendingWrites = new PendingIndexWrites(log);
  closers.unshift(() => pendingWrites.drain(INDEX_DRAIN_MS));
  const ssh = await startSshProxy({
    listen: p.listen,
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
        ? [createSearchIndexer({ sessionId, recordingStart, screens: emulation.screens, pty: plan.pty ? { cols: plan.pty.cols, rows: plan.pty.rows } : null, store: indexStore, auditor: auth.auditor, log, pendingWrites })]
        : []),
    ],
    ...(live ? { live } : {}),
    // Only a shared store (or sibling workers' files) lets another daemon's sessions be followed from here.
    ...(directory && p.followRemote ? { liveDirectory: directory } : {}),
    ...(p.admissionShares ? { admissionShares: p.admissionShares } : {}),
    ...(directory && p.joinBridge
      ? {
          joinElsewhere: async (channel, who, req) => {
            const s = await directory.remote(req.id);
            const socket = s?.serverId ? joinSocketPath(config.dataDir, s.serverId) : undefined;
            return socket ? handOverJoin(socket, p.joinBridge!.secret, channel, who, req) : false;
          },
        }
      : {}),
  });
  closers.unshift(() => ssh.close());
  if (p.joinBridge) {
    const socket = joinSocketPath(config.dataDir, p.joinBridge.serverId);
    if (socket) {
      const bridge = await serveJoinBridge(socket, (channel, who, req) => ssh.joinHere(channel, who, req), log, p.joinBridge.secret);
      closers.unshift(() => bridge.close());
    } else log.warn("the data dir's path is too long for a join socket: tsh join of a sibling worker's session follows its recording instead", { component: 'daemon' });
  }
  return { ssh, policy, closers };
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
  const store = await openStore(config, log, m ? (q) => m.observeQuery(q) : undefined, true, writeGate);
  const closers: Array<() => Promise<void>> = [() => store.close()];
  const storage = openRecordingStorage(config, store, log);
  storageRef = storage;
  const checks: ReadinessCheck[] = [{ name: 'store', check: async () => void (await store.getCertAuthority('user')) }];
  let web: WebServer | undefined;
  let ssh: SshProxy | undefined;
  let policy: TargetPolicy | undefined;
  /** teleport.workers > 1: SSH connections are accepted and relayed by worker processes (src/lib/cluster). */
  const clustered = config.proxy.enabled && config.workers > 1;
  let pool: WorkerPool | undefined;
  /** The configuration as it runs (SIGHUP changes what it can): what a worker forked later is given. */
  let running = config;
  /** Lets the daemon's own processes, and nothing else, hand joins to each other (join-bridge.ts). */
  const joinSecret = crypto.randomBytes(32).toString('hex');
  let shuttingDown = false;
  checks.push({
    name: 'daemon',
    check: () => {
      if (shuttingDown) throw new Error('shutting down (draining sessions)');
    },
  });
  try {
    const { auth, inventory } = await authParts(config, store, clock, log, m);
    let webTlsPin: string | undefined;
    // Running sessions (tsh join, sessions ls --active, tctl sessions end): the proxy fills the
    // registry; the admin and web APIs read it through the directory, which also sees other
    // daemons' sessions in the shared index and hands them end requests through the store.
    const liveScreens = config.proxy.enabled ? createLiveScreenWorker(log) : undefined;
    if (liveScreens) closers.unshift(() => liveScreens.close());
    const live = config.proxy.enabled ? new LiveSessions({ log, now: () => clock.now().getTime(), maxViewers: config.proxy.maxSessionObservers, screens: liveScreens?.screens }) : undefined;
    const directory = live ? newDirectory(config, live, store, storage, serverId(config.dataDir), clock, log, auth, clustered) : undefined;
    const roles = ['auth', ...(config.proxy.enabled ? ['proxy'] : [])];
    const admin: AdminServer = await startAdminServer(adminSocketPath(config), {
      auth,
      store,
      log,
      sshWorkers: () => (pool ? { configured: pool.size, listening: pool.listening() } : undefined),
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
      // Started with the daemon, so a recording thread that cannot start shows at start-up.
      const writers = createWriterPool(log);
      closers.unshift(() => writers.close());
      const recordings = recordingService(config, store, storage, auth, serverId(config.dataDir), clock, log, m, writers);
      await recordings.closeInterrupted();
      // No worker runs yet: the sessions every worker slot left open (a crash, or a slot no
      // longer configured, down to teleport.workers: 1) are closed as interrupted here, once.
      for (const slot of workerSlots(config.dataDir)) {
        const slotStorage = recordingStorageFor(config, store, log, slot);
        const n = await recordingService(config, store, slotStorage, auth, serverId(config.dataDir, slot), clock, log, undefined).closeInterrupted();
        // A slot's spool (PostgreSQL) left by a crash is shipped before the worker's own shipper starts.
        await slotStorage.stop();
        if (n > 0) log.info("closed a former worker's interrupted sessions", { component: 'daemon', worker: slot, sessions: n });
      }
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
      const built = await buildSshProxy({ config, auth, store, clock, log, m, inventory, recordings, live, directory, listen: clustered ? undefined : config.proxy.listenAddr, followRemote: clustered || config.storage.type === 'postgres', writeGate, ...(clustered ? { joinBridge: { serverId: serverId(config.dataDir), secret: joinSecret } } : {}) });
      ssh = built.ssh;
      policy = built.policy;
      closers.unshift(...built.closers);
      const sp = ssh;
      if (directory) {
        directory.start();
        closers.unshift(async () => directory.close());
      }
      let sshAddr = formatHostPort(ssh.address);
      if (clustered) {
        // Forked last, once the store is migrated, the CAs and keys exist and the slots'
        // interrupted sessions are closed: a worker only opens and uses what is there.
        const p = new WorkerPool({
          count: config.workers,
          log,
          // A worker forked later (a restart) runs with the config the primary runs with, not with
          // the file as it is by then, and knows the daemon's join secret.
          env: () => ({ [WORKER_CONFIG_ENV]: JSON.stringify(running), [WORKER_SECRET_ENV]: joinSecret }),
        });
        pool = p;
        if (directory instanceof ClusterDirectory) {
          directory.siblings = () => p.liveSessions();
          directory.watchSibling = (...a) => p.watch(...a);
        }
        closers.unshift(() => p.stop(0));
        await p.start();
        sshAddr = p.address() ?? formatHostPort(config.proxy.listenAddr);
        checks.push({
          name: 'ssh listener',
          check: () => {
            if (p.listening() === 0) throw new Error(`no SSH worker accepts connections (0 of ${p.size})`);
          },
        });
      } else {
        checks.push({
          name: 'ssh listener',
          check: () => {
            if (!sp.listening()) throw new Error('not accepting connections');
          },
        });
      }
      if (config.auth.sessionRecording === 'proxy') checks.push(writableDirCheck('recording storage', () => storage.dir));
      log.info('ssh proxy listening', {
        component: 'daemon',
        addr: sshAddr,
        recordings: config.auth.sessionRecording === 'off' ? 'off (session_recording: off; sessions are audited, not recorded)' : recordings.dir,
        workers: clustered ? `${config.workers} (teleport.workers${config.workersAuto ? ': auto' : ''})` : `1 (this process${config.workersAuto ? '; teleport.workers: auto on one core' : ''})`,
      });
    }
    if (!auth.certsPinned) {
      log.warn('user certificates are not pinned to the proxy (auth_service.cert_source_addresses is empty): sessions can bypass recording by connecting to nodes directly', { component: 'daemon' });
    }
    let diagAddress: HostPort | undefined;
    if (m && config.diagAddr) {
      const diag = await startDiagServer(config.diagAddr, {
        metrics: m,
        checks: () => checks,
        log,
        // With workers, /metrics is this process's and every worker's, summed (prom-client's cluster aggregation).
        ...(pool ? { text: async () => m.text(await pool!.metrics()) } : {}),
      });
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
        // Every worker drains as this process does (each up to drain_timeout), at the same time.
        const workersDone = pool?.stop(current.drainTimeoutMs + WORKER_STOP_MARGIN_MS);
        if (ssh) {
          const drainMs = current.drainTimeoutMs;
          log.info('draining: no new connections; waiting for running sessions', { component: 'daemon', sessions: ssh.activeSessions(), drain_timeout: `${drainMs / 1000}s` });
          const r = await ssh.drain(drainMs, `tollgate: the proxy is shutting down and the session could not finish within ${drainMs / 1000}s (teleport.drain_timeout); the recording is saved`);
          log.info('drained', { component: 'daemon', sessions: r.waited, ended_by_shutdown: r.ended });
        }
        await workersDone;
        await close();
      },
      abort() {
        pool?.kill();
      },
      reopenLogs() {
        pool?.broadcast({ t: 'tollgate:reopen-log' });
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
        running = current;
        const report = { reloaded: applied, restart: [...new Set(restart)].sort() };
        log.info('reloaded configuration', { component: 'daemon', ...describeReload(report) });
        // Each worker reads the config again and applies the same (its own log line says what).
        pool?.broadcast({ t: 'tollgate:reload' });
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
