import net from 'node:net';
import { once } from 'node:events';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { auditEvents } from '../helpers/audit.js';
import { castEvents, sessions, startCluster, type Cluster } from '../helpers/cluster.js';
import { ROOT, spawnBackground, waitFor, type Background } from '../helpers/proc.js';
import { shq, TmuxSession } from '../helpers/tmux.js';
import { descendants, fdCount, fdTargets, isRunning, lineage, processes, type ProcInfo } from '../helpers/procfs.js';
import { connectProxy, profileCertFile, type ProxyConnection } from '../helpers/proxy-client.js';

/**
 * Issue: one side of a running session dies. The node's sshd (proxy-faults.test.ts covers nodes
 * that never answer or hang up at once; proxy-interactive.test.ts the daemon itself killed), or
 * the client. Either way the session ends with a reason, its recording is closed and verifies,
 * everything the proxy held for it is freed, and the proxy keeps serving.
 */
describe('a node or a client dies mid-session', () => {
  let c: Cluster;
  const started: Background[] = [];

  beforeAll(async () => {
    c = await startCluster();
  });
  afterEach(async () => {
    for (const b of started.splice(0)) await b.stop('SIGKILL');
  });
  afterAll(async () => {
    await c?.stop();
  });

  const daemonPid = () => c.daemon.process.child.pid!;
  const sshdPid = () => c.sshd.process.child.pid!;

  /** `tsh ssh` in the background, stdout and stderr apart. */
  function tshInBackground(command: string): { proc: Background; stdout: () => string; stderr: () => string } {
    const proc = spawnBackground(process.execPath, [path.join(ROOT, 'bin/tsh'), 'ssh', `--port=${c.sshd.port}`, 'root@127.0.0.1', command], { cwd: ROOT, env: c.env });
    started.push(proc);
    let out = '';
    let err = '';
    proc.child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    proc.child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    return { proc, stdout: () => out, stderr: () => err };
  }

  /** The processes under the node's sshd that run `marker`, with the sshd processes serving them. */
  function nodeProcessesFor(marker: string) {
    const all = processes();
    const cmd = all.find((p) => p.cmdline.includes(marker) && !p.cmdline.startsWith('sshd') && lineage(p.pid, sshdPid(), all).length > 0);
    return cmd ? lineage(cmd.pid, sshdPid(), all) : [];
  }

  /** The session ends (index and audit) with a reason, and its recording verifies. */
  async function expectClosedAndVerified(command: string, reason: RegExp, lastLine: string): Promise<void> {
    let id = '';
    await waitFor(
      async () => {
        const s = (await sessions(c.daemon)).find((x) => x.command === command);
        id = s?.id ?? '';
        return s?.endedAt != null;
      },
      'the session to end in the index',
      15_000,
    );
    const s = (await sessions(c.daemon)).find((x) => x.id === id)!;
    expect(s.endReason).toMatch(reason);
    expect(s.exitStatus).toBeNull();
    await waitFor(async () => (await auditEvents(c.daemon, ['session.end'])).some((e) => e.fields.sid === id), 'the session.end event', 10_000);
    const end = (await auditEvents(c.daemon, ['session.end'])).find((e) => e.fields.sid === id)!;
    expect(end.fields.reason).toMatch(reason);
    expect(end.fields.bytes_out).toBe(s.bytesOut);
    // What the client saw before the fault is in the recording, which is closed and signed.
    const text = castEvents(c.daemon, id).events.filter((e) => e[1] === 'o').map((e) => e[2]).join('');
    expect(text).toContain(lastLine);
    const v = await c.daemon.tctl(['recordings', 'verify', id]);
    expect(v.stdout, v.stderr).toMatch(/^verified: /);
    expect(v.code).toBe(0);
  }

  /** Waits (bounded) until none of `procs` is running any more (orphans included: they are followed by pid). */
  async function expectGone(procs: ProcInfo[]): Promise<void> {
    const alive = () => procs.filter((p) => isRunning(p.pid));
    await waitFor(() => alive().length === 0, 'the node session processes to exit', 15_000).catch((err: Error) => {
      throw new Error(`${err.message}: ${alive().map((p) => `${p.pid} ${p.cmdline}`).join('; ')}`);
    });
  }

  async function expectStillServing(): Promise<void> {
    expect(c.daemon.process.running).toBe(true);
    const r = await c.tsh(['ssh', `--port=${c.sshd.port}`, 'root@127.0.0.1', 'echo still-serving']);
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe('still-serving\n');
  }

  it("the node's sshd killed mid-session: the client is told and exits non-zero, the session ends with the reason, the recording verifies", async () => {
    const command = 'for i in $(seq 1 600); do echo node-kill-tick-$i; sleep 0.1; done';
    const tsh = tshInBackground(command);
    await waitFor(() => tsh.stdout().includes('node-kill-tick-3\n'), 'the session to stream', 20_000);
    // The command, its shell, and the sshd process(es) serving the connection (one for root: no privsep child).
    const chain = nodeProcessesFor('node-kill-tick');
    const sshds = chain.filter((p) => p.cmdline.startsWith('sshd'));
    expect(sshds.length, chain.map((p) => `${p.pid} ${p.cmdline}`).join('\n')).toBeGreaterThan(0);
    for (const p of sshds) process.kill(p.pid, 'SIGKILL');

    const code = await tsh.proc.waitForExit(15_000);
    expect(code).toBe(255);
    expect(tsh.stderr()).toMatch(new RegExp(`^tollgate: connection to 127\\.0\\.0\\.1:${c.sshd.port} lost: `, 'm'));
    const last = /node-kill-tick-(\d+)\n$/.exec(tsh.stdout());
    expect(last, tsh.stdout().slice(-200)).not.toBeNull();
    await expectClosedAndVerified(command, /^node connection lost: /, `node-kill-tick-${last![1]}\n`);
    await expectStillServing();
  });

  it('the connection to the node reset mid-session (TCP RST): one clear line for the client, the session ends with the reason', async () => {
    // A loopback relay in front of the node's sshd, so the test can reset the proxy's connection.
    const toProxy: net.Socket[] = [];
    const relay = net.createServer((fromProxy) => {
      toProxy.push(fromProxy);
      const toNode = net.connect(c.sshd.port, '127.0.0.1');
      fromProxy.pipe(toNode).pipe(fromProxy);
      fromProxy.on('error', () => toNode.destroy());
      toNode.on('error', () => fromProxy.destroy());
      fromProxy.on('close', () => toNode.destroy());
      toNode.on('close', () => fromProxy.destroy());
    });
    await new Promise<void>((r) => relay.listen(0, '127.0.0.1', r));
    const port = (relay.address() as net.AddressInfo).port;
    try {
      const command = 'for i in $(seq 1 600); do echo reset-tick-$i; sleep 0.1; done';
      const proc = spawnBackground(process.execPath, [path.join(ROOT, 'bin/tsh'), 'ssh', `--port=${port}`, 'root@127.0.0.1', command], { cwd: ROOT, env: c.env });
      started.push(proc);
      let out = '';
      let err = '';
      proc.child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
      proc.child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
      await waitFor(() => out.includes('reset-tick-3\n'), 'the session to stream', 20_000);
      expect(toProxy.length).toBe(1);
      toProxy[0]!.resetAndDestroy();
      expect(await proc.waitForExit(15_000)).toBe(255);
      const lines = err.split(/\r?\n/).filter(Boolean);
      expect(lines, err).toHaveLength(1);
      expect(lines[0]).toMatch(new RegExp(`^tollgate: connection to 127\\.0\\.0\\.1:${port} lost: `));
      const last = /reset-tick-(\d+)\n$/.exec(out)![1];
      await expectClosedAndVerified(command, /^node connection lost: /, `reset-tick-${last}\n`);
    } finally {
      for (const s of toProxy) s.destroy();
      await new Promise((r) => relay.close(r));
    }
    await expectStillServing();
  });

  it('the client killed mid-session (kill -9 tsh): the node session ends, the session row and recording are closed, the daemon frees what it held', async () => {
    // Baselines once idle: no sshd session processes, the daemon's descriptors steady.
    await expectStillServing();
    await waitFor(() => descendants(sshdPid()).length === 0, 'the node to be idle', 10_000);
    const fdsBefore = fdCount(daemonPid());

    const command = 'for i in $(seq 1 600); do echo client-kill-tick-$i; sleep 0.1; done';
    const tsh = tshInBackground(command);
    await waitFor(() => tsh.stdout().includes('client-kill-tick-3\n'), 'the session to stream', 20_000);
    const onNode = descendants(sshdPid());
    expect(onNode.some((p) => p.cmdline.includes('client-kill-tick'))).toBe(true);
    expect(fdCount(daemonPid())).toBeGreaterThan(fdsBefore);
    tsh.proc.child.kill('SIGKILL');
    await tsh.proc.waitForExit();
    const last = /client-kill-tick-(\d+)\n$/.exec(tsh.stdout())![1];

    await expectClosedAndVerified(command, /^client disconnected$/, `client-kill-tick-${last}\n`);
    // The node's side goes away: sshd's session process and the command itself.
    await expectGone(onNode);
    // The daemon's sockets (client, node, agent channel) and recording files are closed again.
    let fds = 0;
    await waitFor(() => (fds = fdCount(daemonPid())) <= fdsBefore + 1, `the daemon's descriptors to return to ${fdsBefore}`, 10_000).catch((err: Error) => {
      throw new Error(`${err.message}: ${fds} open: ${fdTargets(daemonPid()).join(' ')}`);
    });
    await expectStillServing();
  });

  it('the client of an interactive session killed (kill -9 tsh in a terminal): the shell and its foreground command on the node end too', async () => {
    await waitFor(() => descendants(sshdPid()).length === 0, 'the node to be idle', 10_000);
    const fdsBefore = fdCount(daemonPid());
    const t = await TmuxSession.start(
      `cd ${shq(ROOT)} && env TELEPORT_HOME=${shq(c.home)} SSH_AUTH_SOCK=${shq(c.agent.socket)} ${shq(process.execPath)} bin/tsh ssh --port=${c.sshd.port} root@127.0.0.1`,
      { width: 100, height: 30 },
    );
    try {
      await t.type('echo pty-kill-$((6*7)); sleep 300');
      await t.waitFor('pty-kill-42');
      await waitFor(() => descendants(sshdPid()).some((p) => p.cmdline === 'sleep 300'), 'the foreground command to run on the node');
      const onNode = descendants(sshdPid());
      const tsh = processes().filter((p) => p.cmdline === `${process.execPath} bin/tsh ssh --port=${c.sshd.port} root@127.0.0.1`);
      expect(tsh.length, tsh.map((p) => p.cmdline).join('\n')).toBe(1);
      process.kill(tsh[0]!.pid, 'SIGKILL');
      await t.waitFor(/__EXIT=137/);

      let id = '';
      await waitFor(
        async () => {
          const s = (await sessions(c.daemon)).find((x) => x.kind === 'shell' && x.node === `127.0.0.1:${c.sshd.port}` && x.startedAt > Date.now() - 60_000);
          id = s?.id ?? '';
          return s?.endedAt != null;
        },
        'the shell session to end in the index',
        15_000,
      );
      const s = (await sessions(c.daemon)).find((x) => x.id === id)!;
      expect(s.endReason).toBe('client disconnected');
      expect(castEvents(c.daemon, id).events.map((e) => e[2]).join('')).toContain('pty-kill-42');
      const v = await c.daemon.tctl(['recordings', 'verify', id]);
      expect(v.stdout, v.stderr).toMatch(/^verified: /);
      await expectGone(onNode);
      let fds = 0;
      await waitFor(() => (fds = fdCount(daemonPid())) <= fdsBefore + 1, `the daemon's descriptors to return to ${fdsBefore}`, 10_000).catch((err: Error) => {
        throw new Error(`${err.message}: ${fds} open: ${fdTargets(daemonPid()).join(' ')}`);
      });
    } finally {
      await t.kill();
    }
    await expectStillServing();
  });

  it('the client gone while the proxy is still setting the session up (after lending its signature): nothing is left running on the node', async () => {
    await waitFor(() => descendants(sshdPid()).length === 0, 'the node to be idle', 10_000);
    const fdsBefore = fdCount(daemonPid());
    // The client's agent, forwarded to the proxy: once it has answered the proxy's sign request
    // (the upstream login), the client vanishes as kill -9 would make it, while the proxy is
    // still logging in to the node, starting the recording and opening the node's session.
    let client: ProxyConnection | undefined;
    let armed = false;
    let vanished = false;
    const SSH_AGENT_SIGN_RESPONSE = 14;
    const agentSource = async () => {
      const sock = net.connect(c.agent.socket);
      await once(sock, 'connect');
      if (armed) {
        sock.on('data', (d: Buffer) => {
          if (!vanished && d.length > 4 && d[4] === SSH_AGENT_SIGN_RESPONSE) {
            vanished = true;
            setImmediate(() => client!.client.destroy());
          }
        });
      }
      return sock;
    };
    client = await connectProxy({ port: c.sshPort, user: 'joe', agentSocket: c.agent.socket, agentSource, certFile: profileCertFile(c.home) });
    try {
      armed = true;
      const t0 = Date.now();
      // Output all along: a node command whose client is gone ends at its next write (SIGPIPE).
      const command = 'while :; do echo setup-gone-tick; sleep 0.2; done';
      const r = await client.exec(`root@127.0.0.1:${c.sshd.port}`, command, { timeoutMs: 15_000 });
      expect(vanished).toBe(true);
      expect(r.code).toBeNull();
      // Whatever the proxy set up for the session is torn down: a session it recorded is ended
      // with a reason, the node's session and the command are gone, the descriptors are back.
      const mine = async () => (await sessions(c.daemon)).filter((x) => x.command === command);
      await waitFor(
        async () => (await mine()).length > 0 || (await auditEvents(c.daemon, ['session.rejected'])).some((e) => e.time >= t0),
        'the proxy to record or refuse the session',
        15_000,
      );
      await waitFor(async () => (await mine()).every((x) => x.endedAt !== null), 'the session of the vanished client to end in the index', 10_000).catch(async (err: Error) => {
        throw new Error(`${err.message}: ${JSON.stringify(await mine())}`);
      });
      for (const s of (await sessions(c.daemon)).filter((x) => x.command === command)) expect(s.endReason).toBe('client disconnected');
      const left = () => [...descendants(sshdPid()), ...processes().filter((p) => p.cmdline.includes('setup-gone-tick'))];
      await waitFor(() => left().length === 0, 'the node session processes to exit', 10_000).catch((err: Error) => {
        throw new Error(`${err.message}: ${left().map((p) => `${p.pid} ${p.cmdline}`).join('; ')}`);
      });
      let fds = 0;
      await waitFor(() => (fds = fdCount(daemonPid())) <= fdsBefore + 1, `the daemon's descriptors to return to ${fdsBefore}`, 10_000).catch((err: Error) => {
        throw new Error(`${err.message}: ${fds} open: ${fdTargets(daemonPid()).join(' ')}`);
      });
    } finally {
      await client.end();
    }
    await expectStillServing();
  });
});
