import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import tls from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectRecordingVerified, spawnTshSsh, startCluster, type Cluster } from '../helpers/cluster.js';
import { ROOT, spawnBackground, tmpDir, waitFor } from '../helpers/proc.js';

/** A self-signed certificate for 127.0.0.1 with `cn`, written to `dir`/cert.pem and key.pem. */
function makeCert(dir: string, cn: string): void {
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '1', '-subj', `/CN=${cn}`, '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', path.join(dir, 'key.pem'), '-out', path.join(dir, 'cert.pem')], { stdio: 'ignore' });
}

/** The CN of the certificate the HTTPS port presents to a new connection. */
function servedCn(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = tls.connect({ host: '127.0.0.1', port, rejectUnauthorized: false }, () => {
      const cn = s.getPeerCertificate().subject?.CN;
      s.destroy();
      resolve(String(cn));
    });
    s.once('error', reject);
  });
}

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

  const certs = path.join(work, 'certs');

  beforeAll(async () => {
    fs.mkdirSync(certs);
    makeCert(certs, 'first-cert');
    c = await startCluster({ teleportYaml: '  drain_timeout: 2s', proxyYaml: [`  https_cert_file: ${certs}/cert.pem`, `  https_key_file: ${certs}/key.pem`].join('\n') });
    yaml = fs.readFileSync(c.daemon.configFile, 'utf8');
  }, 60_000);
  afterAll(async () => {
    await c?.stop();
    fs.rmSync(work, { recursive: true, force: true });
  });

  it('SIGHUP applies allowed_targets, the log level and renewed HTTPS certificate files, and names what needs a restart', async () => {
    const changed = `${yaml.replace('cluster_name: example.test', 'cluster_name: other.test')}  allowed_targets: ['10.9.9.9/32']\nteleport:\n  drain_timeout: 2s\n  log:\n    severity: DEBUG\n`.replace(/^teleport:\n  drain_timeout: 2s\n/, '');
    await hup(changed, 1);
    const line = c.daemon.process.output.split('\n').find((l) => l.includes('reloaded configuration'))!;
    expect(line).toMatch(/reloaded="teleport\.log\.severity, proxy_service\.allowed_targets, proxy_service\.https_cert_file\/https_key_file \(read again\)"/);
    expect(line).toMatch(/needs_restart=auth_service\.cluster_name/);
    const refused = await c.tsh(['ssh', `--port=${c.sshd.port}`, 'root@127.0.0.1', 'true']);
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toMatch(/allowed_targets/);
    await hup(yaml, 2);
    const ok = await c.tsh(['ssh', `--port=${c.sshd.port}`, 'root@127.0.0.1', 'echo allowed-again']);
    expect(ok).toMatchObject({ code: 0, stdout: 'allowed-again\n' });
    // A certificate renewed in place is served to new connections after SIGHUP.
    expect(await servedCn(c.daemon.webPort)).toBe('first-cert');
    makeCert(certs, 'renewed-cert');
    await hup(yaml, 3);
    expect(await servedCn(c.daemon.webPort)).toBe('renewed-cert');
    // A config that no longer parses is refused and the daemon goes on.
    fs.writeFileSync(c.daemon.configFile, `${yaml}bogus_key: 1\n`);
    c.daemon.process.child.kill('SIGHUP');
    await c.daemon.process.waitForOutput(/SIGHUP: the config was not reloaded.*bogus_key/);
    fs.writeFileSync(c.daemon.configFile, yaml);
    expect(c.daemon.process.running).toBe(true);
  });

  it('SIGUSR1 reopens the log file after logrotate moved it', async () => {
    const dir = path.join(work, 'usr1');
    fs.mkdirSync(dir);
    const log = path.join(dir, 'teleport.log');
    const cfg = path.join(dir, 'teleport.yaml');
    fs.writeFileSync(cfg, `teleport:\n  log:\n    output: ${log}\n    format: json\n`);
    const d = spawnBackground(process.execPath, [path.join(ROOT, 'bin/teleport'), 'start', '--roles=auth', '-c', cfg, '--data-dir', path.join(dir, 'data')], { cwd: ROOT });
    try {
      await waitFor(() => fs.existsSync(log) && fs.readFileSync(log, 'utf8').includes('auth service started'), 'the first log lines in the file', 15_000);
      fs.renameSync(log, `${log}.1`);
      d.child.kill('SIGUSR1');
      await waitFor(() => fs.existsSync(log) && fs.readFileSync(log, 'utf8').includes('reopened the log file'), 'the reopened file', 10_000);
      expect(await d.stop()).toBe(0);
      expect(fs.readFileSync(log, 'utf8')).toMatch(/"msg":"stopped"/);
      expect(fs.readFileSync(`${log}.1`, 'utf8')).not.toMatch(/reopened/);
      expect(d.output).toBe(''); // nothing on stderr or stdout: it all went to the file
    } finally {
      await d.stop();
    }
  });

  it('SIGTERM ends a session still running at drain_timeout with a message, seals its recording, and exits 0', async () => {
    const signers = path.join(work, 'allowed_signers');
    fs.writeFileSync(signers, (await c.daemon.tctl(['auth', 'export', '--type=recording'])).stdout);
    const tsh = spawnTshSsh(c, [`--port=${c.sshd.port}`, 'root@127.0.0.1', 'echo long-running; sleep 30']);
    try {
      await waitFor(() => tsh.out().includes('long-running'), 'the session to start', 15_000);
      const t0 = Date.now();
      c.daemon.process.child.kill('SIGTERM');
      expect(await tsh.exited).toBe(255);
      expect(Date.now() - t0).toBeLessThan(2_000 + 3_000);
      expect(tsh.err()).toMatch(/tollgate: the proxy is shutting down and the session could not finish within 2s \(teleport\.drain_timeout\); the recording is saved/);
    } finally {
      tsh.child.kill('SIGKILL');
    }
    expect(await c.daemon.process.waitForExit(15_000)).toBe(0);
    expect(c.daemon.process.output).toMatch(/drained .*ended_by_shutdown=1/);
    await expectRecordingVerified(c.daemon, 'long-running', signers);
  }, 40_000);
});
