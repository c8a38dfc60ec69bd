import fs from 'node:fs';
import path from 'node:path';
import { Background, cli, freePort, ROOT, spawnBackground, tmpDir, type RunResult } from './proc.js';

/** A config for a daemon running auth and the web proxy on free loopback ports. */
export async function proxyYaml(extraAuth = '', extraProxy = ''): Promise<string> {
  return [
    'auth_service:',
    '  cluster_name: example.test',
    ...(extraAuth ? [extraAuth] : []),
    'proxy_service:',
    `  web_listen_addr: 127.0.0.1:${await freePort()}`,
    `  listen_addr: 127.0.0.1:${await freePort()}`,
    ...(extraProxy ? [extraProxy] : []),
    '',
  ].join('\n');
}

/** The start-up lines that name the ports, in text (`addr=...`) or JSON (`"addr":"..."`) log format. */
export const WEB_LISTENING = /web proxy listening"?[^\n]*?\baddr"?[=:]"?https:\/\/[^ "]+:(\d+)/;
export const SSH_LISTENING = /ssh proxy listening"?[^\n]*?\baddr"?[=:]"?[^ "]+:(\d+)/;

export interface TestDaemon {
  dataDir: string;
  configFile: string;
  process: Background;
  /** HTTPS port of the web proxy (when the proxy role runs). */
  webPort: number;
  tctl(args: readonly string[]): Promise<RunResult>;
  stop(): Promise<void>;
}

/** Starts `teleport start` on a temp data dir with a test config; waits until it serves tctl. */
export async function startDaemon(
  opts: {
    yaml?: string;
    dataDir?: string;
    extraArgs?: string[];
    proxy?: boolean;
    /** Node options before the script (the bench's `--cpu-prof`, which NODE_OPTIONS does not allow). */
    nodeArgs?: string[];
    /** Called with the process as soon as it is spawned, so a caller can stop it even if start-up fails or times out. */
    onSpawn?: (proc: Background) => void;
    /**
     * `--workers`: 1 (one process, the default here: faster, and what most tests are about),
     * a count or `auto`; `config` passes no flag, so teleport.workers (or its default, auto) counts.
     */
    workers?: number | 'auto' | 'config';
  } = {},
): Promise<TestDaemon> {
  const dataDir = opts.dataDir ?? path.join(tmpDir('tollgate-daemon-'), 'data');
  const configFile = path.join(path.dirname(dataDir), 'teleport.yaml');
  fs.writeFileSync(configFile, opts.yaml ?? 'auth_service:\n  cluster_name: example.test\n');
  const roles = opts.proxy ? 'auth,proxy' : 'auth';
  // TOLLGATE_TEST_WORKERS=2 runs the tests that do not choose under two SSH workers.
  const workers = opts.workers ?? process.env.TOLLGATE_TEST_WORKERS ?? 1;
  const proc = spawnBackground(process.execPath, [...(opts.nodeArgs ?? []), path.join(ROOT, 'bin/teleport'), 'start', `--roles=${roles}`, '-c', configFile, '--data-dir', dataDir, ...(workers === 'config' ? [] : [`--workers=${workers}`]), ...(opts.extraArgs ?? [])], { cwd: ROOT });
  opts.onSpawn?.(proc);
  await proc.waitForOutput('auth service started');
  let webPort = 0;
  if (opts.proxy) {
    await proc.waitForOutput(WEB_LISTENING);
    webPort = Number(WEB_LISTENING.exec(proc.output)![1]);
  }
  return {
    dataDir,
    configFile,
    process: proc,
    webPort,
    tctl: (args) => cli('tctl', [...args, '--data-dir', dataDir]),
    stop: async () => {
      await proc.stop();
    },
  };
}
