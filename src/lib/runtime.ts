import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { startAdminServer, type AdminServer } from './admin/index.js';
import { ADMIN_SOCKET } from './api/index.js';
import { AuthService, LoginService } from './auth/index.js';
import { systemClock, type Clock } from './clock.js';
import { formatHostPort } from './address.js';
import type { Config, DataDirSource } from './config/index.js';
import { badParameter, unavailable } from './errors.js';
import type { Logger } from './log.js';
import { createSqliteStore } from './store/index.js';
import type { Store } from './store/index.js';
import { VERSION } from './version.js';
import { loadOrCreateTls, startWebServer } from './web/index.js';
import { HostCertificates, proxyPrincipals, nodeHostKeyCheck, startSshProxy, TargetPolicy, UnrecordedSessions, UpstreamConnector } from './proxy/index.js';
import { RECORDINGS_DIR, RecordingService, LocalDirStorage, SharedStoreStorage, type RecordingStorage } from './recording/index.js';
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
  close(): Promise<void>;
}

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
export async function openStore(config: Config, log?: Logger): Promise<Store> {
  if (config.storage.type === 'postgres') {
    const { createPostgresStore } = await import('./store/postgres.js');
    const store = await createPostgresStore(config.storage.connString, { logger: log });
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
  const store = await createSqliteStore(path.join(dir, STORE_FILE));
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

export function adminSocketPath(config: Config): string {
  return path.join(config.dataDir, ADMIN_SOCKET);
}

/** Starts the services the config enables (today: the auth service and its admin API). */
export async function startDaemon(config: Config, log: Logger, opts: { clock?: Clock } = {}): Promise<Daemon> {
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
  const store = await openStore(config, log);
  const closers: Array<() => Promise<void>> = [() => store.close()];
  const storage = openRecordingStorage(config, store, log);
  try {
    const auth = new AuthService({
      store,
      clock,
      log,
      clusterName: config.auth.clusterName,
      publicWebAddr: config.proxy.publicWebAddr,
      maxSessionTtlMs: config.auth.maxSessionTtlMs,
      certSourceAddresses: config.auth.certSourceAddresses,
    });
    await auth.init();
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
      const recordings = new RecordingService({
        store,
        storage,
        serverId: serverId(config.dataDir),
        auditor: auth.auditor,
        clock,
        maxExecRecordingSize: config.auth.maxExecRecordingSize,
        recordInput: config.auth.recordInput,
        signer: auth.recordingSigner,
        log,
      });
      await recordings.closeInterrupted();
      storage.start();
      closers.unshift(async () => {
        await recordings.close();
        await storage.stop();
      });
      const tls = await loadOrCreateTls(config, log);
      const web = await startWebServer(config.proxy.webListenAddr, tls, {
        auth,
        login,
        log,
        version: VERSION,
        sshListenAddr: formatHostPort(config.proxy.listenAddr),
        sshPublicAddr: config.proxy.publicAddrs[0] ? formatHostPort({ host: config.proxy.publicAddrs[0].host, port: config.proxy.listenAddr.port }) : undefined,
        publicWebAddr: formatHostPort(config.proxy.publicWebAddr),
        sessions: { store, recordings },
      });
      closers.unshift(() => web.close());
      log.info('web proxy listening', { component: 'daemon', addr: `https://${formatHostPort(web.address)}`, tls: tls.selfSigned ? `self-signed (${tls.certFile})` : tls.certFile });
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
      const ssh = await startSshProxy({
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
        allowPortForwarding: config.proxy.allowPortForwarding,
        version: VERSION,
        // The search indexer and command log, off the relay's path (an optional tap: dropped and
        // audited when it falls behind). Only recorded sessions are indexed: a hit is a place to play.
        optionalTaps:
          config.auth.sessionRecording === 'off'
            ? undefined
            : (sessionId, plan, recordingStart) =>
                plan.kind === 'shell' || plan.kind === 'exec'
                  ? [createSearchIndexer({ sessionId, recordingStart, screens: emulation.screens, pty: plan.pty ? { cols: plan.pty.cols, rows: plan.pty.rows } : null, store, auditor: auth.auditor, log })]
                  : [],
      });
      closers.unshift(() => ssh.close());
      log.info('ssh proxy listening', {
        component: 'daemon',
        addr: formatHostPort(ssh.address),
        recordings: config.auth.sessionRecording === 'off' ? 'off (session_recording: off; sessions are audited, not recorded)' : recordings.dir,
      });
    }
    if (!auth.certsPinned) {
      log.warn('user certificates are not pinned to the proxy (auth_service.cert_source_addresses is empty): sessions can bypass recording by connecting to nodes directly', { component: 'daemon' });
    }
    let closed = false;
    return {
      config,
      auth,
      adminSocket: admin.path,
      async close() {
        if (closed) return;
        closed = true;
        for (const close of closers) {
          try {
            await close();
          } catch (err) {
            log.error('error while stopping', { component: 'daemon', error: err });
          }
        }
      },
    };
  } catch (err) {
    for (const close of closers) {
      await close().catch((e: unknown) => log.error('error while stopping after a failed start', { component: 'daemon', error: e }));
    }
    throw err;
  }
}
