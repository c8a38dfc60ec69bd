import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { auditEvents } from '../helpers/audit.js';
import { sessions, startCluster, type Cluster } from '../helpers/cluster.js';
import { freePort, run, spawnBackground, tmpDir, waitFor, type Background } from '../helpers/proc.js';

/** Tunnels through the proxy with real `ssh -A -J`, a real sshd node and an HTTP server on loopback. */

const BODY = 'tunnelled hello\n';

/** An HTTP server on 127.0.0.1 that answers every request with BODY. */
async function startHttp(): Promise<{ port: number; close(): Promise<void> }> {
  const server = http.createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain', connection: 'close' });
    res.end(BODY);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

function get(port: number): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: '/', agent: false, timeout: 10_000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', reject);
  });
}

const listening = (port: number) =>
  new Promise<boolean>((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });

type PortEvent = { user: string; fields: Record<string, unknown> };

/** `ssh -A -J ... -L LPORT:127.0.0.1:DEST -N`, once its listener answers (or ssh has said why not). */
async function localTunnel(ctx: Ctx, lport: number, dest: number): Promise<Background> {
  const ssh = ctx.ssh(['-L', `${lport}:127.0.0.1:${dest}`]);
  await waitFor(() => {
    if (!ssh.running) throw new Error(`ssh exited (${ssh.exitCode}): ${ssh.output}`);
    return listening(lport);
  }, 'the -L listener', 30_000);
  return ssh;
}

function suite(name: string, proxyYaml: string | undefined, body: (ctx: () => Ctx) => void): void {
  describe(name, () => {
    const ctx = {} as Ctx;
    beforeAll(async () => {
      ctx.c = await startCluster(proxyYaml ? { proxyYaml } : {});
      ctx.work = tmpDir('tollgate-tunnels-');
      const kh = path.join(ctx.work, 'known_hosts');
      fs.writeFileSync(kh, (await ctx.c.daemon.tctl(['auth', 'export', '--type=host', '--host-pattern=*'])).stdout);
      ctx.config = path.join(ctx.work, 'ssh_config');
      fs.writeFileSync(
        ctx.config,
        ['Host *', '  StrictHostKeyChecking yes', `  UserKnownHostsFile ${kh}`, '  GlobalKnownHostsFile /dev/null', '  BatchMode yes', `  IdentityAgent ${ctx.c.agent.socket}`, '  LogLevel ERROR', '  ConnectTimeout 10', ''].join('\n'),
      );
      ctx.http = await startHttp();
      ctx.procs = [];
      ctx.ssh = (args, agent = true) => {
        const p = spawnBackground('ssh', ['-F', ctx.config, ...(agent ? ['-A'] : []), '-N', '-o', 'ExitOnForwardFailure=yes', '-J', `joe@127.0.0.1:${ctx.c.sshPort}`, '-p', String(ctx.c.sshd.port), ...args, 'root@127.0.0.1']);
        ctx.procs.push(p);
        return p;
      };
      ctx.portEvents = async () => (await auditEvents(ctx.c.daemon, ['port'])).map((e) => ({ user: e.user!, fields: e.fields }));
    }, 120_000);
    afterAll(async () => {
      for (const p of ctx.procs ?? []) await p.stop();
      await ctx.http?.close();
      await ctx.c?.stop();
      if (ctx.work) fs.rmSync(ctx.work, { recursive: true, force: true });
    });
    body(() => ctx);
  });
}

interface Ctx {
  c: Cluster;
  work: string;
  config: string;
  http: { port: number; close(): Promise<void> };
  procs: Background[];
  ssh(args: string[], agent?: boolean): Background;
  portEvents(): Promise<PortEvent[]>;
}

suite('tunnels with allow_port_forwarding: yes', '  allow_port_forwarding: yes', (ctx) => {
  it('ssh -A -J -L carries an HTTP request to the node side; a port event has the byte counts; nothing is recorded', async () => {
    const { c, http: web } = ctx();
    const before = (await sessions(c.daemon)).length;
    const lport = await freePort();
    const ssh = await localTunnel(ctx(), lport, web.port);
    const r = await get(lport);
    expect(r).toEqual({ status: 200, body: BODY });
    let ev: PortEvent | undefined;
    await waitFor(async () => {
      // The listener probes above were forwarded too (and carried nothing).
      ev = (await ctx().portEvents()).find((e) => e.fields.dest === `127.0.0.1:${web.port}` && Number(e.fields.bytes_out) > 0);
      return Boolean(ev);
    }, 'the port event', 10_000);
    expect(ev!.user).toBe('joe');
    expect(ev!.fields).toMatchObject({ allowed: true, direction: 'local', login: 'root', node: `127.0.0.1:${c.sshd.port}` });
    expect(ev!.fields.bytes_in).toBeGreaterThan(20);
    expect(ev!.fields.bytes_out).toBeGreaterThan(BODY.length);
    expect(typeof ev!.fields.started_at).toBe('string');
    expect(typeof ev!.fields.ended_at).toBe('string');
    // A second request on the same ssh reuses the proxy's upstream connection for tunnels.
    const accepted = (c.sshd.process.output.match(/Accepted publickey/g) ?? []).length;
    expect(await get(lport)).toEqual({ status: 200, body: BODY });
    expect((c.sshd.process.output.match(/Accepted publickey/g) ?? []).length).toBe(accepted);
    await ssh.stop();
    // Tunnels are not recordings.
    expect((await sessions(c.daemon)).length).toBe(before);
  });

  it('ssh -A -J -D: a SOCKS request (curl) is carried to the node side and audited as local', async () => {
    const { http: web } = ctx();
    // By host name (socks5h): the -L test's events for 127.0.0.1 may still arrive while this runs.
    const carriedToWeb = async () => (await ctx().portEvents()).filter((e) => e.fields.dest === `localhost:${web.port}` && e.fields.direction === 'local' && Number(e.fields.bytes_out) > 0).length;
    const before = await carriedToWeb();
    const dport = await freePort();
    const ssh = ctx().ssh(['-D', `127.0.0.1:${dport}`]);
    await waitFor(() => {
      if (!ssh.running) throw new Error(`ssh exited (${ssh.exitCode}): ${ssh.output}`);
      return listening(dport);
    }, 'the -D listener', 30_000);
    const r = await run('curl', ['-sS', '--max-time', '20', '--socks5-hostname', `127.0.0.1:${dport}`, `http://localhost:${web.port}/socks`], { timeoutMs: 30_000 });
    expect(r.stdout, r.stderr).toBe(BODY);
    await waitFor(async () => (await carriedToWeb()) === before + 1, 'the port event', 10_000);
    await ssh.stop();
  });

  it('ssh -A -J -R opens the node side listener and carries its connections back to the client', async () => {
    const { c, http: web } = ctx();
    const rport = await freePort();
    const ssh = ctx().ssh(['-R', `${rport}:127.0.0.1:${web.port}`]);
    // The node (sshd) is on this machine, so its listener is reachable here.
    await waitFor(() => {
      if (!ssh.running) throw new Error(`ssh exited (${ssh.exitCode}): ${ssh.output}`);
      return listening(rport);
    }, 'the -R listener on the node', 30_000);
    expect(await get(rport)).toEqual({ status: 200, body: BODY });
    const carried = (e: PortEvent) => e.fields.direction === 'remote' && Number(e.fields.bytes_out) > 0;
    await waitFor(async () => (await ctx().portEvents()).some(carried), 'the port event', 10_000);
    const events = await ctx().portEvents();
    expect(events.find((e) => e.fields.request === 'tcpip-forward')!.fields).toMatchObject({ allowed: true, listen: `localhost:${rport}`, login: 'root' });
    const conn = events.find(carried)!;
    expect(conn.fields).toMatchObject({ allowed: true, listen: `localhost:${rport}`, node: `127.0.0.1:${c.sshd.port}` });
    // bytes_in is what came from the client's side: the HTTP response, here.
    expect(conn.fields.bytes_in).toBeGreaterThan(BODY.length);
    expect(conn.fields.bytes_out).toBeGreaterThan(20);
    await ssh.stop();
    await waitFor(async () => !(await listening(rport)), 'the node to close the -R listener', 10_000);
  });

  it('tctl lock --user=joe ends an open -L tunnel within 2 s, audited; tctl locks rm lets a new one work', async () => {
    const { c, http: web } = ctx();
    const lport = await freePort();
    const ssh = await localTunnel(ctx(), lport, web.port);
    expect(await get(lport)).toEqual({ status: 200, body: BODY });
    const lock = JSON.parse((await c.daemon.tctl(['lock', '--user=joe', '--message=incident', '--format=json'])).stdout) as { id: string };
    const t0 = Date.now();
    try {
      await waitFor(() => !ssh.running, 'the tunnel connection to be ended', 5_000);
      expect(Date.now() - t0).toBeLessThan(2_500);
      await waitFor(async () => (await ctx().portEvents()).some((e) => e.fields.ended === true && String(e.fields.reason).startsWith('locked: ')), 'the audited end', 5_000);
    } finally {
      expect((await c.daemon.tctl(['locks', 'rm', lock.id])).code).toBe(0);
    }
    const again = ctx().ssh(['-L', `${lport}:127.0.0.1:${web.port}`]);
    await waitFor(() => listening(lport), 'the -L listener after the lock is gone', 30_000);
    expect(await get(lport)).toEqual({ status: 200, body: BODY });
    await again.stop();
  });
});

suite('tunnels allowed, without agent forwarding', '  allow_port_forwarding: yes', (ctx) => {
  it('ssh -J -L (no -A): the forward is refused and audited with the reason', async () => {
    const { http: web } = ctx();
    const lport = await freePort();
    const ssh = ctx().ssh(['-L', `${lport}:127.0.0.1:${web.port}`], false);
    await waitFor(() => listening(lport), 'the -L listener', 30_000);
    await expect(get(lport)).rejects.toThrow();
    await waitFor(async () => (await ctx().portEvents()).some((e) => e.fields.reason !== undefined), 'the port event', 10_000);
    const ev = (await ctx().portEvents()).find((e) => e.fields.dest === `127.0.0.1:${web.port}` && e.fields.reason === 'no agent forwarding');
    expect(ev?.fields).toMatchObject({ allowed: false, direction: 'local', login: 'root' });
    await ssh.stop();
  });
});

suite('tunnels with the default config', undefined, (ctx) => {
  it('ssh -A -J -L: the forward is refused and audited', async () => {
    const { http: web } = ctx();
    const lport = await freePort();
    const ssh = ctx().ssh(['-L', `${lport}:127.0.0.1:${web.port}`]);
    await waitFor(() => listening(lport), 'the -L listener', 30_000);
    await expect(get(lport)).rejects.toThrow();
    await waitFor(async () => (await ctx().portEvents()).some((e) => e.fields.dest === `127.0.0.1:${web.port}`), 'the port event', 10_000);
    const ev = (await ctx().portEvents()).find((e) => e.fields.dest === `127.0.0.1:${web.port}`)!;
    expect(ev.user).toBe('joe');
    expect(ev.fields).toMatchObject({ allowed: false });
    expect(ev.fields.bytes_in).toBeUndefined();
    await ssh.stop();
  });

  it('ssh -A -J -R: the request is refused and audited; ssh gives up', async () => {
    const rport = await freePort();
    const ssh = ctx().ssh(['-R', `${rport}:127.0.0.1:${ctx().http.port}`]);
    expect(await ssh.waitForExit(30_000)).toBe(255);
    // emit() writes after the refusal has gone out, so the event may land after ssh has exited.
    await waitFor(async () => (await ctx().portEvents()).some((e) => e.fields.request === 'tcpip-forward'), 'the port event', 10_000);
    const ev = (await ctx().portEvents()).find((e) => e.fields.request === 'tcpip-forward')!;
    expect(ev.fields).toMatchObject({ allowed: false, bindPort: rport });
  });
});
