import { afterAll, describe, expect, it } from 'vitest';
import { startCluster, type Cluster } from '../helpers/cluster.js';
import { startSshd, type TestSshd } from '../helpers/sshd.js';

/** proxy_checks_host_keys: nodes must prove themselves with a host certificate unless told otherwise. */
describe('node host key checks', () => {
  const stops: Array<() => Promise<void>> = [];
  afterAll(async () => {
    for (const s of stops.reverse()) await s();
  });

  async function plainNode(c: Cluster): Promise<TestSshd> {
    const node = await startSshd({ trustedUserCaKeys: (await c.daemon.tctl(['auth', 'export', '--type=user'])).stdout });
    stops.push(() => node.stop());
    return node;
  }

  it('yes (default): a node without a host certificate is refused with the reason; one with a tctl host certificate works', async () => {
    const c = await startCluster();
    stops.push(() => c.stop());
    const plain = await plainNode(c);
    const refused = await c.tsh(['ssh', `--port=${plain.port}`, 'root@127.0.0.1', 'echo never']);
    expect(refused.code).toBe(255);
    expect(refused.stdout).toBe('');
    expect(refused.stderr).toMatch(/^tollgate: cannot connect to root@127\.0\.0\.1:\d+: node presented no host certificate .*tctl auth sign --host=127\.0\.0\.1/m);
    expect(plain.process.output).not.toMatch(/Accepted publickey/);
    const ok = await c.tsh(['ssh', `--port=${c.sshd.port}`, 'root@127.0.0.1', 'echo certified']);
    expect(ok.stdout).toBe('certified\n');
  });

  it('no: a plain host key is accepted with a warning in the log', async () => {
    const c = await startCluster({ authYaml: '  proxy_checks_host_keys: no', nodeHostCert: false });
    stops.push(() => c.stop());
    const r = await c.tsh(['ssh', `--port=${c.sshd.port}`, 'root@127.0.0.1', 'echo unchecked']);
    expect(r.stdout).toBe('unchecked\n');
    expect(c.daemon.process.output).toMatch(/WARN .*accepting the node's plain host key without verification/);
  });
});
