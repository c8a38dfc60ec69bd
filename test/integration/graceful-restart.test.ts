import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sessions, startCluster, type Cluster } from '../helpers/cluster.js';
import { cli, ROOT, tmpDir, waitFor } from '../helpers/proc.js';

/** SIGHUP reloads what can change at run time; SIGTERM past drain_timeout ends sessions cleanly. */
describe('graceful restart: SIGHUP reload and the drain deadline', () => {
  let c: Cluster;
  const work = tmpDir('tollgate-restart-');
  let yaml: string;
  const hup = async (text: string, count: number) => {
    fs.writeFileSync(c.daemon.configFile, text);
    c.daemon.process.child.kill('SIGHUP');
    await waitFor(() => c.daemon.process.output.split('reloaded configuration').length - 1 >= count, 'the reload log line');
  };

  beforeAll(async () => {
    c = await startCluster({ teleportYaml: '  drain_timeout: 2s' });
    yaml = fs.readFileSync(c.daemon.configFile, 'utf8');
  }, 60_000);
  afterAll(async () => {
    await c?.stop();
    fs.rmSync(work, { recursive: true, force: true });
  });

  it('SIGHUP applies allowed_targets and the log level, and names what needs a restart', async () => {
    const changed = `${yaml.replace('cluster_name: example.test', 'cluster_name: other.test')}  allowed_targets: ['10.9.9.9/32']\nteleport:\n  drain_timeout: 2s\n  log:\n    severity: DEBUG\n`.replace(/^teleport:\n  drain_timeout: 2s\n/, '');
    await hup(changed, 1);
    const line = c.daemon.process.output.split('\n').find((l) => l.includes('reloaded configuration'))!;
    expect(line).toMatch(/reloaded="teleport\.log\.severity, proxy_service\.allowed_targets"/);
    expect(line).toMatch(/needs_restart=auth_service\.cluster_name/);
    const refused = await c.tsh(['ssh', `--port=${c.sshd.port}`, 'root@127.0.0.1', 'true']);
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toMatch(/allowed_targets/);
    await hup(yaml, 2);
    const ok = await c.tsh(['ssh', `--port=${c.sshd.port}`, 'root@127.0.0.1', 'echo allowed-again']);
    expect(ok).toMatchObject({ code: 0, stdout: 'allowed-again\n' });
    // A config that no longer parses is refused and the daemon goes on.
    fs.writeFileSync(c.daemon.configFile, `${yaml}bogus_key: 1\n`);
    c.daemon.process.child.kill('SIGHUP');
    await c.daemon.process.waitForOutput(/SIGHUP: the config was not reloaded.*bogus_key/);
    fs.writeFileSync(c.daemon.configFile, yaml);
    expect(c.daemon.process.running).toBe(true);
  });

  it('SIGTERM ends a session still running at drain_timeout with a message, seals its recording, and exits 0', async () => {
    const signers = path.join(work, 'allowed_signers');
    fs.writeFileSync(signers, (await c.daemon.tctl(['auth', 'export', '--type=recording'])).stdout);
    const tsh = spawn(process.execPath, [path.join(ROOT, 'bin/tsh'), 'ssh', `--port=${c.sshd.port}`, 'root@127.0.0.1', 'echo long-running; sleep 30'], { cwd: ROOT, env: c.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    tsh.stdout.on('data', (d: Buffer) => (out += d.toString()));
    tsh.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const exited = new Promise<number | null>((resolve) => tsh.on('close', (code) => resolve(code)));
    try {
      await waitFor(() => out.includes('long-running'), 'the session to start', 15_000);
      const t0 = Date.now();
      c.daemon.process.child.kill('SIGTERM');
      expect(await exited).toBe(255);
      expect(Date.now() - t0).toBeLessThan(2_000 + 3_000);
      expect(err).toMatch(/tollgate: the proxy is shutting down and the session could not finish within 2s \(teleport\.drain_timeout\); the recording is saved/);
    } finally {
      tsh.kill('SIGKILL');
    }
    expect(await c.daemon.process.waitForExit(15_000)).toBe(0);
    expect(c.daemon.process.output).toMatch(/drained .*ended_by_shutdown=1/);
    const rec = (await sessions(c.daemon)).find((s) => s.command?.includes('long-running'));
    expect(rec?.endedAt).not.toBeNull();
    const v = await cli('tctl', ['recordings', 'verify', path.join(c.daemon.dataDir, 'recordings', `${rec!.id}.cast`), `--allowed-signers=${signers}`]);
    expect(v.code, v.stdout + v.stderr).toBe(0);
    expect(v.stdout).toMatch(/verified/);
  }, 40_000);
});
