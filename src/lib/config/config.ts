import type { HostPort } from '../address.js';

export type Role = 'auth' | 'proxy';

/** Where the data dir came from, so the start-up line can say why it is where it is. */
export type DataDirSource = 'flag' | 'config' | 'system-default' | 'user-default';

/** `sqlite`: the store file lives in `dir` (teleport.storage.path), else in the data dir. */
export type StorageConfig = { type: 'sqlite'; dir?: string } | { type: 'postgres'; connString: string };

/**
 * The key-encryption key that seals the CA keys in the store: a file (teleport.keys_file, default
 * DATA_DIR-keys/kek beside the data dir, created at first start) or the key itself from TOLLGATE_KEK (base64, 32 bytes).
 */
export type KeysConfig = { readonly kind: 'file'; readonly file: string } | { readonly kind: 'env'; readonly keyBase64: string };

/** The one typed, validated, frozen configuration every part is built from. */
export interface Config {
  /** The file read, or undefined for embedded defaults. */
  readonly file: string | undefined;
  readonly dataDir: string;
  readonly dataDirSource: DataDirSource;
  readonly hostname: string;
  readonly logLevel: 'debug' | 'info' | 'warn' | 'error';
  /** Where the daemon's log lines go (teleport.log.output): a stream, or `logFile`. */
  readonly logOutput: 'stderr' | 'stdout' | 'file';
  /** The log file when logOutput is `file` (reopened on SIGUSR1 for logrotate). */
  readonly logFile: string | undefined;
  /** teleport.log.format (Teleport: log.format.output). */
  readonly logFormat: 'text' | 'json';
  /** teleport.diag_addr / --diag-addr: plain HTTP /metrics, /healthz, /readyz; off when undefined. */
  readonly diagAddr: HostPort | undefined;
  /** teleport.drain_timeout: how long SIGTERM lets running sessions finish before ending them. */
  readonly drainTimeoutMs: number;
  /**
   * teleport.workers: how many processes accept and relay SSH sessions (node:cluster, sharing
   * listen_addr); 1 is one process doing everything. `workersAuto`: the number came from `auto`.
   */
  readonly workers: number;
  readonly workersAuto: boolean;
  readonly storage: StorageConfig;
  readonly keys: KeysConfig;
  readonly auth: {
    readonly enabled: boolean;
    readonly clusterName: string;
    readonly sessionRecording: 'proxy' | 'off';
    readonly proxyChecksHostKeys: boolean;
    readonly secondFactor: 'off' | 'otp';
    readonly maxSessionTtlMs: number;
    /** 0 = never. */
    readonly clientIdleTimeoutMs: number;
    readonly disconnectExpiredCert: boolean;
    /** Bytes of non-PTY exec output after which the session is ended; 0 = unlimited. */
    readonly maxExecRecordingSize: number;
    readonly recordInput: boolean;
    readonly certSourceAddresses: readonly string[];
  };
  readonly proxy: {
    readonly enabled: boolean;
    readonly listenAddr: HostPort;
    readonly webListenAddr: HostPort;
    readonly publicAddrs: readonly HostPort[];
    /** The address signup URLs and tsh name: first public_addr, else this host at the web port. */
    readonly publicWebAddr: HostPort;
    readonly httpsCertFile: string | undefined;
    readonly httpsKeyFile: string | undefined;
    readonly upstreamBindAddr: string | undefined;
    readonly forwardAgentToNodes: boolean;
    readonly allowPortForwarding: boolean;
    /** Targets outside the inventory use the legacy agent-forwarding path; `false` refuses them. */
    readonly allowUnregisteredNodes: boolean;
    readonly allowedTargets: readonly string[];
    /** Observers and peers at most per running session (tsh join); 0 turns joining off. */
    readonly maxSessionObservers: number;
  };
}

export const DEFAULTS = {
  maxSessionTtlMs: 30 * 3_600_000,
  userCertTtlMs: 12 * 3_600_000,
  maxExecRecordingSize: 0,
  drainTimeoutMs: 30_000,
  workers: 'auto' as number | 'auto',
  listenAddr: { host: '0.0.0.0', port: 3023 },
  webListenAddr: { host: '0.0.0.0', port: 3080 },
  systemDataDir: '/var/lib/teleport',
  systemConfigFile: '/etc/teleport.yaml',
} as const;
