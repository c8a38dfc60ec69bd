import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { sessions, startCluster, type Cluster } from '../helpers/cluster.js';
import { run, tmpDir } from '../helpers/proc.js';
import { sshBaseArgs } from '../helpers/sshd.js';

/** Recordings that cannot be bypassed: certificates pinned to the proxy with source-address. */
describe('certificates pinned to the proxy', () => {
  const stops: Array<() => Promise<void>> = [];
  afterAll(async () => {
    for (const s of stops.reverse()) await s();
  });

  it('through the proxy works and is recorded; straight to the node the same certificate is refused by sshd', async () => {
    const c: Cluster = await startCluster({ authYaml: '  cert_source_addresses: [127.0.0.2/32]', proxyYaml: '  upstream_bind_addr: 127.0.0.2' });
    stops.push(() => c.stop());
    expect(c.daemon.process.output).not.toMatch(/not pinned/);
    const certFile = path.join(c.home, 'keys', '127.0.0.1', 'joe-cert.pub');
    const shown = await run('ssh-keygen', ['-L', '-f', certFile]);
    expect(shown.stdout).toMatch(/Critical Options:\s*\n\s+source-address 127\.0\.0\.2\/32/);

    const work = tmpDir('tollgate-pin-');
    const kh = path.join(work, 'known_hosts');
    fs.writeFileSync(kh, (await c.daemon.tctl(['auth', 'export', '--type=host', '--host-pattern=*'])).stdout);
    const cfg = path.join(work, 'ssh_config');
    fs.writeFileSync(cfg, ['Host *', '  StrictHostKeyChecking yes', `  UserKnownHostsFile ${kh}`, '  GlobalKnownHostsFile /dev/null', '  BatchMode yes', `  IdentityAgent ${c.agent.socket}`, '  LogLevel ERROR', ''].join('\n'));
    const viaProxy = await run('ssh', ['-F', cfg, '-A', '-J', `joe@127.0.0.1:${c.sshPort}`, '-p', String(c.sshd.port), 'root@127.0.0.1', 'echo pinned-through-proxy'], { timeoutMs: 30_000 });
    expect(viaProxy.stderr).toBe('');
    expect(viaProxy.stdout).toBe('pinned-through-proxy\n');
    expect((await sessions(c.daemon)).some((s) => s.command === 'echo pinned-through-proxy')).toBe(true);
    const tsh = await c.tsh(['ssh', `--port=${c.sshd.port}`, 'root@127.0.0.1', 'echo pinned-tsh']);
    expect(tsh.stdout).toBe('pinned-tsh\n');

    // The bypass: the same agent, straight to the node. sshd enforces source-address.
    const direct = await run('ssh', [...sshBaseArgs(c.sshd.port, { agent: c.agent.socket }), '-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null', 'root@127.0.0.1', 'echo bypassed']);
    expect(direct.code).toBe(255);
    expect(direct.stdout).toBe('');
    expect(direct.stderr).toMatch(/Permission denied/);
    fs.rmSync(work, { recursive: true, force: true });
  });

  it('without cert_source_addresses the daemon and tctl status warn that recordings can be bypassed', async () => {
    const c: Cluster = await startCluster();
    stops.push(() => c.stop());
    expect(c.daemon.process.output).toMatch(/WARN .*user certificates are not pinned to the proxy .*bypass recording/);
    const status = await c.daemon.tctl(['status']);
    expect(status.stdout).toMatch(/Source pinning:\s+off/);
    expect(status.stderr).toMatch(/^WARNING: user certificates are not pinned to the proxy .*bypass recording/m);
  });
});
