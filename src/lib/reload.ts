import type { Config } from './config/index.js';

/*
 * What a SIGHUP can change in a running daemon, and what it cannot. Applied at run time: the log
 * level, proxy_service.allowed_targets (new dials; sessions already relayed keep their node),
 * teleport.drain_timeout, and the HTTPS certificate files (read again; new connections get the new
 * certificate). Everything else (listeners, storage, data dir, cluster name, log format/output,
 * recording settings) is read once at start-up: a change to it is reported as needing a restart
 * and the daemon keeps running with the old value.
 */

export interface ReloadPlan {
  logLevel: boolean;
  allowedTargets: boolean;
  drainTimeout: boolean;
  /** teleport.yaml names of changed keys that only a restart applies. */
  restart: string[];
}

export interface ReloadReport {
  /** teleport.yaml names of what was applied. */
  reloaded: string[];
  /** teleport.yaml names of changed keys that still have their old value until a restart. */
  restart: string[];
}

/** Config field → teleport.yaml key, for the reload log line. */
const YAML_NAMES: Record<string, string> = {
  file: 'the config file (-c)',
  dataDir: 'teleport.data_dir',
  dataDirSource: 'teleport.data_dir',
  hostname: 'teleport.nodename',
  logOutput: 'teleport.log.output',
  logFile: 'teleport.log.output',
  logFormat: 'teleport.log.format',
  diagAddr: 'teleport.diag_addr',
  storage: 'teleport.storage',
  'auth.enabled': 'auth_service.enabled',
  'auth.secondFactor': 'auth_service.authentication.second_factor',
  'proxy.enabled': 'proxy_service.enabled',
  'proxy.publicAddrs': 'proxy_service.public_addr',
  'proxy.publicWebAddr': 'proxy_service.public_addr',
  workersAuto: 'teleport.workers',
};

const RELOADABLE = new Set(['logLevel', 'drainTimeoutMs', 'proxy.allowedTargets', 'proxy.httpsCertFile', 'proxy.httpsKeyFile']);

function yamlName(field: string): string {
  const known = YAML_NAMES[field];
  if (known) return known;
  const [head, rest] = field.includes('.') ? field.split('.', 2) : ['', field];
  const snake = rest!.replace(/Ms$/, '').replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
  return head === 'auth' ? `auth_service.${snake}` : head === 'proxy' ? `proxy_service.${snake}` : `teleport.${snake}`;
}

const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);

/** Compares the running config with the one just read. */
export function planReload(running: Config, next: Config): ReloadPlan {
  const restart = new Set<string>();
  for (const [key, value] of Object.entries(running) as Array<[keyof Config, unknown]>) {
    if (key === 'auth' || key === 'proxy') {
      for (const [sub, v] of Object.entries(value as object)) {
        const field = `${key}.${sub}`;
        if (!RELOADABLE.has(field) && !same(v, (next[key] as unknown as Record<string, unknown>)[sub])) restart.add(yamlName(field));
      }
    } else if (!RELOADABLE.has(key) && !same(value, next[key])) restart.add(yamlName(key));
  }
  return {
    logLevel: running.logLevel !== next.logLevel,
    allowedTargets: !same(running.proxy.allowedTargets, next.proxy.allowedTargets),
    drainTimeout: running.drainTimeoutMs !== next.drainTimeoutMs,
    restart: [...restart].sort(),
  };
}

/** The log fields of a reload: what was applied, and what needs a restart. */
export function describeReload(r: ReloadReport): { reloaded: string; needs_restart: string } {
  return { reloaded: r.reloaded.length ? r.reloaded.join(', ') : 'nothing changed that can be reloaded', needs_restart: r.restart.length ? r.restart.join(', ') : 'nothing' };
}
