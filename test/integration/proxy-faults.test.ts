import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sessions, startCluster, type Cluster } from '../helpers/cluster.js';
import { run } from '../helpers/proc.js';

/** Faults that must neither crash the proxy nor let a session run unrecorded. */
describe('proxy faults', () => {
  let c: Cluster;
  const servers: net.Server[] = [];

  beforeAll(async () => {
    c = await startCluster();
  });
  afterAll(async () => {
    for (const s of servers) s.close();
    await c?.stop();
  });

  async function fakeNode(onConnection: (s: net.Socket) => void): Promise<number> {
    const server = net.createServer(onConnection);
    servers.push(server);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    return (server.address() as net.AddressInfo).port;
  }

  it('a node that speaks garbage, or hangs up, is a clear refusal and the daemon stays up', async () => {
    const garbage = await fakeNode((s) => s.end('HTTP/1.1 400 Bad Request\r\n\r\n'));
    const hangup = await fakeNode((s) => s.destroy());
    for (const port of [garbage, hangup]) {
      const r = await c.tsh(['ssh', `--port=${port}`, 'root@127.0.0.1', 'true']);
      expect(r.code).toBe(255);
      expect(r.stderr).toMatch(new RegExp(`^tollgate: cannot connect to root@127\\.0\\.0\\.1:${port}: `, 'm'));
    }
    expect(c.daemon.process.running).toBe(true);
    const ok = await c.tsh(['ssh', `--port=${c.sshd.port}`, 'root@127.0.0.1', 'echo still-up']);
    expect(ok.stdout).toBe('still-up\n');
  });

  it('a node that accepts and never answers times out without taking the daemon down', async () => {
    const silent = await fakeNode(() => {});
    const r = await c.tsh(['ssh', `--port=${silent}`, 'root@127.0.0.1', 'true'], { timeoutMs: 60_000 });
    expect(r.code).toBe(255);
    expect(r.stderr).toMatch(/tollgate: cannot connect to .*: Timed out/);
    await new Promise((res) => setTimeout(res, 1000));
    expect(c.daemon.process.running).toBe(true);
    expect((await c.tsh(['ssh', `--port=${c.sshd.port}`, 'root@127.0.0.1', 'echo alive'])).stdout).toBe('alive\n');
  }, 60_000);

  it('when the recording can no longer be written the session ends with the reason (recording is mandatory)', async () => {
    const dir = path.join(c.daemon.dataDir, 'recordings');
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    const mounted = await run('mount', ['-t', 'tmpfs', '-o', 'size=256k,mode=0700', 'tmpfs', dir]);
    expect(mounted.code, `a small tmpfs stands in for a full disk: ${mounted.stderr}`).toBe(0);
    try {
      const r = await c.tsh(['ssh', `--port=${c.sshd.port}`, 'root@127.0.0.1', 'head -c 64M /dev/zero; sleep 5; echo not-reached'], { timeoutMs: 60_000 });
      expect(r.code).toBe(255);
      expect(r.stderr).toMatch(/tollgate: the session recording failed \(ENOSPC\); recording is mandatory, so the session ends/);
      expect(r.stdout).not.toContain('not-reached');
      const s = (await sessions(c.daemon)).find((x) => x.command?.startsWith('head -c 64M'))!;
      expect(s.endReason).toBe('recording failed: ENOSPC');
      // Nothing corrupt: what was written verifies up to its last checkpoint, the rest is unverified.
      const v = await c.daemon.tctl(['recordings', 'verify', s.id]);
      expect(v.code, v.stdout + v.stderr).toBe(5);
      expect(v.stdout).toMatch(/^incomplete: /);
      // While the disk is full, a new session is refused with the reason, before anything runs.
      const again = await c.tsh(['ssh', `--port=${c.sshd.port}`, 'root@127.0.0.1', 'echo must-not-run'], { timeoutMs: 30_000 });
      expect(again.code).not.toBe(0);
      expect(again.stdout).not.toContain('must-not-run');
      expect(again.stderr).toMatch(/recording/i);
    } finally {
      await run('umount', ['-l', dir]);
    }
  }, 60_000);
});
