import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestAgent } from '../helpers/agent.js';
import { castEvents, PASSWORD, sessions, startCluster, tshLogin, type Cluster } from '../helpers/cluster.js';
import { postJson } from '../helpers/https.js';
import { cli, run, spawnBackground, tmpDir, type Background } from '../helpers/proc.js';
import { sshBaseArgs, writeNodeSshdConfig } from '../helpers/sshd.js';

/*
 * Agentless nodes (issue 15): a real sshd whose config the test owns is enrolled with
 * `teleport join openssh`, then trusts only the OpenSSH CA; every client path reaches it through
 * the proxy without agent forwarding, and nothing a user holds opens it directly.
 */
describe('agentless nodes: teleport join openssh, per-session certificates, labels', () => {
  let c: Cluster;
  let work: string;
  let node: { port: number; config: string; dataDir: string; proc?: Background };
  let sshCfg: string;
  let token: { token: string; ca_pin: string; proxy: string };

  const join = (over: { token?: string; dataDir?: string; config?: string } = {}) =>
    cli('teleport', [
      'join',
      'openssh',
      `--proxy-server=${token.proxy}`,
      `--token=${over.token ?? token.token}`,
      `--ca-pin=${token.ca_pin}`,
      `--address=127.0.0.1:${node.port}`,
      '--labels=env=staging,team=db',
      '--node-name=node1',
      `--openssh-config=${over.config ?? node.config}`,
      `--data-dir=${over.dataDir ?? node.dataDir}`,
      '--restart-sshd=no',
    ]);

  beforeAll(async () => {
    c = await startCluster();
    work = tmpDir('tollgate-agentless-');
    const dir = path.join(work, 'node');
    // The node trusts no user CA before the join: after it, only the OpenSSH CA.
    const { port, config } = await writeNodeSshdConfig(dir, ['ExposeAuthInfo yes', 'Subsystem sftp internal-sftp', 'Match User nobody', '  PermitTTY no']);
    node = { port, config, dataDir: path.join(dir, 'tollgate') };
    token = JSON.parse((await c.daemon.tctl(['tokens', 'add', '--type=node', '--format=json'])).stdout) as typeof token;

    // Plain OpenSSH through the proxy: the host CA for every name, joe's agent for the proxy hop only.
    const kh = path.join(work, 'known_hosts');
    fs.writeFileSync(kh, (await c.daemon.tctl(['auth', 'export', '--type=host', '--host-pattern=*'])).stdout);
    sshCfg = path.join(work, 'ssh_config');
    fs.writeFileSync(
      sshCfg,
      [
        'Host node1',
        `  ProxyJump joe@127.0.0.1:${c.sshPort}`,
        'Host *',
        '  StrictHostKeyChecking yes',
        `  UserKnownHostsFile ${kh}`,
        '  GlobalKnownHostsFile /dev/null',
        '  BatchMode yes',
        `  IdentityAgent ${c.agent.socket}`,
        '  ForwardAgent no',
        '  LogLevel ERROR',
        '',
      ].join('\n'),
    );
  }, 120_000);

  afterAll(async () => {
    await node?.proc?.stop();
    await c?.stop();
    if (work) fs.rmSync(work, { recursive: true, force: true });
  });

  it('1. a token joins the node: sshd -t accepts the config, the node is listed with its labels; a second run changes nothing; reused and expired tokens are refused', async () => {
    const first = await join();
    expect(first.stderr).toBe('');
    expect(first.code).toBe(0);
    expect(first.stdout).toMatch(/joined the cluster as node1/);
    expect((await run('/usr/sbin/sshd', ['-t', '-f', node.config])).code).toBe(0);
    const after = fs.readFileSync(node.config, 'utf8');
    expect(after).toMatch(/TrustedUserCAKeys /);
    expect(fs.statSync(node.dataDir).mode & 0o777).toBe(0o700);
    for (const f of fs.readdirSync(node.dataDir)) expect(fs.statSync(path.join(node.dataDir, f)).mode & 0o077, f).toBe(0);

    node.proc = spawnBackground('/usr/sbin/sshd', ['-D', '-e', '-f', node.config]);
    await node.proc.waitForOutput(`Server listening on 127.0.0.1 port ${node.port}`);

    const ls = JSON.parse((await c.daemon.tctl(['nodes', 'ls', '--format=json'])).stdout) as { id: string; addr: string; labels: Record<string, string>; host_key_fingerprint: string }[];
    expect(ls).toEqual([expect.objectContaining({ id: 'node1', addr: `127.0.0.1:${node.port}`, labels: { env: 'staging', team: 'db' }, host_key_fingerprint: expect.stringMatching(/^SHA256:/) })]);
    const tshLs = await c.tsh(['ls']);
    expect(tshLs.code, tshLs.stderr).toBe(0);
    expect(tshLs.stdout).toMatch(new RegExp(`node1\\s+127\\.0\\.0\\.1:${node.port}\\s+env=staging,team=db`));
    // tsh config: the registered node first, without agent forwarding (ssh keeps the first value).
    const config = (await c.tsh(['config'])).stdout;
    expect(config).toMatch(/Host node1 !127\.0\.0\.1\n(?:.*\n)*?\s+ForwardAgent no\n(?:.*\n)*Host \* !127\.0\.0\.1\n(?:.*\n)*?\s+ForwardAgent yes/);
    const status = await c.daemon.tctl(['status']);
    expect(status.stdout).toMatch(/node1:\s+127\.0\.0\.1:\d+, agentless: direct logins impossible/);

    const again = await join();
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).toMatch(/nothing changed/);
    expect(fs.readFileSync(node.config, 'utf8')).toBe(after);

    const reused = await join({ dataDir: path.join(work, 'other-data') });
    expect(reused.code).not.toBe(0);
    expect(reused.stderr).toMatch(/join token was refused \(already used\)/);
    expect(reused.stderr).not.toMatch(/\n\s+at /);
    const short = JSON.parse((await c.daemon.tctl(['tokens', 'add', '--type=node', '--ttl=1s', '--format=json'])).stdout) as typeof token;
    await new Promise((r) => setTimeout(r, 1500));
    const expired = await join({ token: short.token, dataDir: path.join(work, 'other-data2') });
    expect(expired.code).not.toBe(0);
    expect(expired.stderr).toMatch(/join token was refused \(expired\)/);
    const badPin = await cli('teleport', ['join', 'openssh', `--proxy-server=${token.proxy}`, '--token=x', `--ca-pin=sha256:${'0'.repeat(64)}`, '--address=127.0.0.1:22', `--data-dir=${path.join(work, 'd3')}`, `--openssh-config=${node.config}`, '--restart-sshd=no']);
    expect(badPin.code).not.toBe(0);
    expect(badPin.stderr).toMatch(/is not the one the pin names/);
    const events = JSON.parse((await c.daemon.tctl(['events', 'ls', '--type=node.join', '--format=json'])).stdout) as { success: boolean; reason?: string }[];
    expect(events.filter((e) => e.success)).toHaveLength(1);
    expect(events.filter((e) => !e.success).map((e) => e.reason).sort()).toEqual(['token already used', 'token expired']);
  }, 120_000);

  it('2 and 6. tsh ssh, ssh -J without agent forwarding, scp, sftp and rsync all work and are recorded; sshd saw a per-session certificate', async () => {
    const tsh = await c.tsh(['ssh', 'root@node1', 'cat "$SSH_USER_AUTH"; echo agentless-tsh']);
    expect(tsh.stderr).toBe('');
    expect(tsh.stdout).toMatch(/agentless-tsh\n$/);
    const certLine = /publickey (ssh-ed25519-cert-v01@openssh\.com \S+)/.exec(tsh.stdout)![1]!;
    const certFile = path.join(work, 'seen-cert.pub');
    fs.writeFileSync(certFile, `${certLine}\n`);
    const shown = (await run('ssh-keygen', ['-L', '-f', certFile])).stdout;
    const rec = (await sessions(c.daemon)).find((s) => s.command?.includes('agentless-tsh'))!;
    expect(rec.node).toBe('node1');
    expect(shown).toMatch(new RegExp(`Key ID: "user=joe session=${rec.id}"`));
    expect(/Principals:\s*\n((?:\s{16}\S+\n)+)/.exec(shown)![1]!.trim().split(/\s+/)).toEqual(['root']);
    const [, from, to] = /Valid: from (\S+) to (\S+)/.exec(shown)!;
    expect(Date.parse(to!) - Date.parse(from!)).toBeLessThanOrEqual(5 * 60_000);
    expect(shown).not.toMatch(/permit-agent-forwarding/);

    const ssh = await run('ssh', ['-F', sshCfg, 'root@node1', 'echo agentless-ssh'], { timeoutMs: 30_000 });
    expect(ssh.stderr).toBe('');
    expect(ssh.stdout).toBe('agentless-ssh\n');

    const src = path.join(work, 'payload.txt');
    fs.writeFileSync(src, 'agentless payload\n'.repeat(100));
    const scp = await run('scp', ['-F', sshCfg, src, 'root@node1:/tmp/tollgate-agentless-scp.txt'], { timeoutMs: 30_000 });
    expect(scp.code, scp.stderr).toBe(0);
    const batch = path.join(work, 'batch');
    fs.writeFileSync(batch, `get /tmp/tollgate-agentless-scp.txt ${path.join(work, 'back.txt')}\n`);
    const sftp = await run('sftp', ['-F', sshCfg, '-b', batch, 'root@node1'], { timeoutMs: 30_000 });
    expect(sftp.code, sftp.stderr).toBe(0);
    expect(fs.readFileSync(path.join(work, 'back.txt'), 'utf8')).toBe(fs.readFileSync(src, 'utf8'));
    const rsync = await run('rsync', ['-e', `ssh -F ${sshCfg}`, src, 'root@node1:/tmp/tollgate-agentless-rsync.txt'], { timeoutMs: 30_000 });
    expect(rsync.code, rsync.stderr).toBe(0);

    const rows = await sessions(c.daemon);
    const onNode = rows.filter((s) => s.node === 'node1');
    expect(onNode.some((s) => s.command === 'echo agentless-ssh')).toBe(true);
    expect(onNode.filter((s) => s.kind === 'sftp').length).toBeGreaterThanOrEqual(2);
    expect(onNode.some((s) => s.command?.startsWith('rsync --server'))).toBe(true);
    expect(castEvents(c.daemon, onNode.find((s) => s.command === 'echo agentless-ssh')!.id).events.map((e) => e[2]).join('')).toContain('agentless-ssh');
    // The proxy logged in with certificates it minted, never the client's agent.
    const starts = JSON.parse((await c.daemon.tctl(['events', 'ls', '--type=session.start', '--format=json'])).stdout) as { node: string; upstream_auth: string }[];
    expect(starts.filter((e) => e.node === 'node1').every((e) => e.upstream_auth === 'session-cert')).toBe(true);
    const certs = JSON.parse((await c.daemon.tctl(['events', 'ls', '--type=cert.create', '--format=json', '--limit=100'])).stdout) as { cert_type: string; fingerprint: string }[];
    expect(certs.filter((e) => e.cert_type === 'session').length).toBeGreaterThanOrEqual(onNode.length);
    fs.rmSync('/tmp/tollgate-agentless-scp.txt', { force: true });
    fs.rmSync('/tmp/tollgate-agentless-rsync.txt', { force: true });
  }, 120_000);

  it("3. the certificate tsh login put in joe's agent opens nothing on the node directly", async () => {
    const direct = await run('ssh', [...sshBaseArgs(node.port, { agent: c.agent.socket }), '-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null', 'root@127.0.0.1', 'echo bypassed']);
    expect(direct.code).toBe(255);
    expect(direct.stdout).toBe('');
    expect(direct.stderr).toMatch(/Permission denied/);
  });

  it('4. a user whose node labels do not match cannot reach the node and does not see it', async () => {
    const add = JSON.parse((await c.daemon.tctl(['users', 'add', 'bob', 'bob,root', '--node-labels=env=prod', '--format=json'])).stdout) as { token: string };
    expect((await postJson(c.daemon.webPort, `/webapi/invites/${add.token}`, { password: PASSWORD })).status).toBe(200);
    const agent = await TestAgent.start();
    try {
      const home = path.join(work, 'bob');
      await tshLogin({ webPort: c.daemon.webPort, home, user: 'bob', agentSocket: agent.socket });
      const env = { ...process.env, TELEPORT_HOME: home, SSH_AUTH_SOCK: agent.socket };
      const ls = await cli('tsh', ['ls', '--format=json'], { env });
      expect(ls.code, ls.stderr).toBe(0);
      expect(JSON.parse(ls.stdout)).toEqual([]);
      const denied = await cli('tsh', ['ssh', 'root@node1', 'echo should-not-run'], { env });
      expect(denied.code).not.toBe(0);
      expect(denied.stdout).toBe('');
      expect(denied.stderr).toMatch(/bob may not reach node node1 \(its labels do not match/);
      const rejected = JSON.parse((await c.daemon.tctl(['events', 'ls', '--type=session.rejected', '--user=bob', '--format=json'])).stdout) as { reason: string }[];
      expect(rejected.map((e) => e.reason)).toContain('node labels do not allow node1');
      // Giving bob the label lets him in, at the next session.
      expect((await c.daemon.tctl(['users', 'update', 'bob', '--set-node-labels=env=staging'])).code).toBe(0);
      expect((await cli('tsh', ['ssh', 'root@node1', 'echo bob-in'], { env })).stdout).toBe('bob-in\n');
    } finally {
      await agent.stop();
    }
  }, 120_000);

  it('5. the tutorial path (a node trusting the user CA, not registered) still works by default', async () => {
    const legacy = await c.tsh(['ssh', `--port=${c.sshd.port}`, 'root@127.0.0.1', 'echo legacy-still-works']);
    expect(legacy.stdout).toBe('legacy-still-works\n');
  });
});

describe('proxy_service.allow_unregistered_nodes: no', () => {
  it('refuses an unregistered target with the hint to register it', async () => {
    const c = await startCluster({ proxyYaml: '  allow_unregistered_nodes: no' });
    try {
      const r = await c.tsh(['ssh', `--port=${c.sshd.port}`, 'root@127.0.0.1', 'echo nope']);
      expect(r.code).not.toBe(0);
      expect(r.stdout).toBe('');
      expect(r.stderr).toMatch(/is not a registered node, and this proxy only reaches registered nodes; register it with teleport join openssh/);
      expect((await c.daemon.tctl(['status'])).stdout).toMatch(/Other targets:\s+refused/);
    } finally {
      await c.stop();
    }
  }, 120_000);
});
