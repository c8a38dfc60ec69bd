import path from 'node:path';
import { badParameter } from '../errors.js';

export interface SystemdUnitOptions {
  /** The node binary and the teleport script the unit runs. */
  node: string;
  bin: string;
  configFile: string;
  dataDir: string;
  /** teleport.drain_timeout: TimeoutStopSec leaves room for it before systemd's SIGKILL. */
  drainTimeoutMs: number;
  /** A log file (teleport.log.output), whose directory must stay writable. */
  logFile?: string;
  /** The key-encryption key file (teleport.keys_file), made at first start in its own directory. */
  keysFile?: string;
  /** --diag-addr for the unit's command line (when not in the config file). */
  diagAddr?: string;
}

/** After the drain, closing the store and the listeners: generous, since the alternative is SIGKILL. */
const STOP_MARGIN_S = 30;

/**
 * Paths go into the unit unquoted: systemd would read a space as a separator and `%` as a
 * specifier, and a quote or backslash changes the parse, so such paths are refused up front.
 */
function checkPath(p: string, what: string): string {
  if (!path.isAbsolute(p)) throw badParameter(`${what} must be an absolute path for a systemd unit: ${p}`, 'give the full path');
  if (/[\s"'\\%$;]/.test(p)) throw badParameter(`${what} ${JSON.stringify(p)} has a character a systemd unit cannot take unescaped (space, quote, backslash, %, $ or ;)`, 'use a path without them');
  return p;
}

/**
 * A unit for `teleport start` with the hardening a recorder can live with:
 * - ProtectSystem=strict makes the whole file system read-only for the daemon except the data dir
 *   (ReadWritePaths; StateDirectory creates /var/lib/NAME with mode 0700 when the data dir is there).
 * - NoNewPrivileges, PrivateTmp, ProtectHome=read-only, the kernel/cgroup protections.
 * - No MemoryDenyWriteExecute: V8's JIT needs writable executable memory.
 * - KillMode=mixed: SIGTERM goes to the daemon alone (it drains its sessions), SIGKILL to all
 *   that is left after TimeoutStopSec, which covers drain_timeout.
 */
export function systemdUnit(o: SystemdUnitOptions): string {
  const node = checkPath(o.node, 'the node binary');
  const bin = checkPath(o.bin, 'the teleport binary');
  const config = checkPath(o.configFile, 'the config file');
  const dataDir = checkPath(o.dataDir, 'the data dir');
  const writable = [dataDir];
  if (o.logFile) writable.push(path.dirname(checkPath(o.logFile, 'the log file')));
  const keysDir = o.keysFile ? path.dirname(checkPath(o.keysFile, 'the keys file')) : undefined;
  if (o.diagAddr !== undefined && !/^[A-Za-z0-9.:[\]-]+$/.test(o.diagAddr)) throw badParameter(`--diag-addr ${JSON.stringify(o.diagAddr)} is not HOST:PORT`, 'e.g. 127.0.0.1:3000');
  const stateName = (dir: string) => /^\/var\/lib\/([A-Za-z0-9._-]+)$/.exec(dir)?.[1];
  // systemd creates state directories (0700) before the daemon starts; another key directory must
  // be writable so the daemon can make the key at first start.
  const stateDirs = [stateName(dataDir), keysDir ? stateName(keysDir) : undefined].filter((d): d is string => d !== undefined);
  if (keysDir && !stateName(keysDir)) writable.push(keysDir);
  const stateDir = stateDirs.length ? stateDirs.join(' ') : undefined;
  const stopS = Math.ceil(o.drainTimeoutMs / 1000) + STOP_MARGIN_S;
  return [
    '# tollgate (teleport) daemon, written by `teleport install systemd`.',
    `# Config: ${config}; data dir: ${dataDir}.`,
    '[Unit]',
    'Description=tollgate SSH session recording proxy and auth service (teleport)',
    'After=network-online.target',
    'Wants=network-online.target',
    '',
    '[Service]',
    'Type=simple',
    `ExecStart=${node} ${bin} start -c ${config} --data-dir ${dataDir}${o.diagAddr ? ` --diag-addr ${o.diagAddr}` : ''}`,
    // SIGHUP re-reads the config: log level, allowed_targets, drain_timeout, HTTPS certificate files.
    'ExecReload=/bin/kill -HUP $MAINPID',
    'KillMode=mixed',
    'KillSignal=SIGTERM',
    `TimeoutStopSec=${stopS}`,
    'Restart=on-failure',
    'RestartSec=5',
    'LimitNOFILE=65536',
    'UMask=0077',
    'NoNewPrivileges=yes',
    'ProtectSystem=strict',
    ...(stateDir ? [`StateDirectory=${stateDir}`, 'StateDirectoryMode=0700'] : []),
    `ReadWritePaths=${writable.join(' ')}`,
    'PrivateTmp=yes',
    'PrivateDevices=yes',
    'ProtectHome=read-only',
    'ProtectKernelTunables=yes',
    'ProtectKernelModules=yes',
    'ProtectKernelLogs=yes',
    'ProtectControlGroups=yes',
    'ProtectClock=yes',
    'ProtectHostname=yes',
    'RestrictSUIDSGID=yes',
    'RestrictRealtime=yes',
    'RestrictNamespaces=yes',
    'LockPersonality=yes',
    'RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6',
    '',
    '[Install]',
    'WantedBy=multi-user.target',
    '',
  ].join('\n');
}
