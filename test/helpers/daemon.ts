import fs from 'node:fs';
import path from 'node:path';
import { Background, cli, ROOT, spawnBackground, tmpDir, type RunResult } from './proc.js';

export interface TestDaemon {
  dataDir: string;
  configFile: string;
  process: Background;
  tctl(args: readonly string[]): Promise<RunResult>;
  stop(): Promise<void>;
}

/** Starts `teleport start` on a temp data dir with a test config; waits until it serves tctl. */
export async function startDaemon(opts: { yaml?: string; dataDir?: string; extraArgs?: string[] } = {}): Promise<TestDaemon> {
  const dataDir = opts.dataDir ?? path.join(tmpDir('tollgate-daemon-'), 'data');
  const configFile = path.join(path.dirname(dataDir), 'teleport.yaml');
  fs.writeFileSync(configFile, opts.yaml ?? 'auth_service:\n  cluster_name: example.test\n');
  const proc = spawnBackground(process.execPath, [path.join(ROOT, 'bin/teleport'), 'start', '--roles=auth', '-c', configFile, '--data-dir', dataDir, ...(opts.extraArgs ?? [])], { cwd: ROOT });
  await proc.waitForOutput('auth service started');
  return {
    dataDir,
    configFile,
    process: proc,
    tctl: (args) => cli('tctl', [...args, '--data-dir', dataDir]),
    stop: async () => {
      await proc.stop();
    },
  };
}
