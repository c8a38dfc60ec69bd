import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import ssh2 from 'ssh2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_AUTH_TRIES } from '../../src/lib/proxy/authentication.js';
import { startCluster, type Cluster } from '../helpers/cluster.js';
import { httpsRequest } from '../helpers/https.js';
import { waitFor } from '../helpers/proc.js';

/** Audit rows straight from the daemon's SQLite store: how many, and their bytes as stored. */
async function auditRows(dataDir: string): Promise<Array<{ event: string; user: string | null; bytes: number; count: number }>> {
  const { createSqliteStore } = await import('../../src/lib/store/sqlite.js');
  const store = await createSqliteStore(path.join(dataDir, 'tollgate.db'));
  try {
    const events = await store.listEvents({ limit: 100_000 });
    return events.map((e) => ({
      event: e.event,
      user: e.user,
      bytes: e.id.length + e.event.length + (e.user?.length ?? 0) + JSON.stringify(e.fields).length + 16,
      count: typeof e.fields.count === 'number' ? e.fields.count : 1,
    }));
  } finally {
    await store.close();
  }
}

/** One SSH connection that tries passwords as `user` from `localAddress` until the proxy ends it; resolves with the attempts made. */
function failingClient(port: number, localAddress: string, user: string): Promise<number> {
  return new Promise((resolve) => {
    const client = new ssh2.Client();
    let tries = 0;
    const done = () => resolve(tries);
    client.on('error', done);
    client.on('close', done);
    client.on('ready', () => {
      client.end();
      done();
    });
    client.connect({
      host: '127.0.0.1',
      port,
      localAddress,
      username: user,
      readyTimeout: 30_000,
      authHandler: (_left: unknown, _partial: unknown, next: (m: unknown) => void) => {
        tries++;
        next({ type: 'password', username: user, password: `guess ${tries}` });
      },
    } as ssh2.ConnectConfig);
  });
}

/*
 * Issue 16, acceptance 5: a flood of failed SSH authentications with huge user names costs a
 * bounded amount of audit data; half-open SSH connections from a few hosts and idle HTTPS sockets
 * from one host do not lock anyone else out.
 */
describe('bounded audit and connection admission under attack', () => {
  let c: Cluster;
  const sockets: net.Socket[] = [];
  beforeAll(async () => {
    c = await startCluster();
  }, 120_000);
  afterAll(async () => {
    for (const s of sockets) s.destroy();
    await c?.stop();
  });

  it('200 failed SSH authentications with 30,000-character user names add less than 1 MB of audit data', async () => {
    const before = await auditRows(c.daemon.dataDir);
    const dbBefore = fs.statSync(path.join(c.daemon.dataDir, 'tollgate.db')).size;
    // Six clients, as in the report; each connection fails up to MAX_AUTH_TRIES times.
    let attempts = 0;
    let n = 0;
    while (attempts < 200) {
      const batch = await Promise.all(Array.from({ length: 6 }, (_, i) => failingClient(c.sshPort, `127.0.0.${10 + i}`, `${n++}-${'A'.repeat(30_000)}`)));
      // The client makes one attempt more than the proxy takes (MAX_AUTH_TRIES, then it hangs up).
      attempts += batch.reduce((a, b) => a + Math.min(b, MAX_AUTH_TRIES), 0);
    }
    // The aggregated remainder is written at the end of its window (10 s).
    let added: Awaited<ReturnType<typeof auditRows>> = [];
    await waitFor(
      async () => {
        added = (await auditRows(c.daemon.dataDir)).slice(0, -before.length || undefined).filter((e) => e.event === 'auth');
        return added.reduce((a, e) => a + e.count, 0) >= 200;
      },
      'every failure counted in the audit log',
      20_000,
    );
    const bytes = added.reduce((a, e) => a + e.bytes, 0);
    expect(bytes).toBeLessThan(1024 * 1024);
    expect(Math.max(...added.map((e) => e.user?.length ?? 0))).toBeLessThanOrEqual(256);
    // Ten per source and window written one by one; the rest as one event per source with a count.
    expect(added.length).toBeLessThan(attempts);
    expect(added.some((e) => e.count > 1)).toBe(true);
    const dbAfter = fs.statSync(path.join(c.daemon.dataDir, 'tollgate.db')).size;
    expect(dbAfter - dbBefore).toBeLessThan(1024 * 1024);
  }, 120_000);

  it('100 half-open SSH connections from 5 source addresses do not stop a legitimate tsh ssh within 5 s', async () => {
    const open = await Promise.all(
      Array.from({ length: 100 }, (_, i) =>
        new Promise<net.Socket>((resolve) => {
          const s = net.connect({ host: '127.0.0.1', port: c.sshPort, localAddress: `127.0.0.${2 + (i % 5)}` });
          s.on('error', () => {});
          s.once('connect', () => resolve(s));
          s.once('close', () => resolve(s));
          sockets.push(s);
        }),
      ),
    );
    expect(open).toHaveLength(100);
    const t0 = Date.now();
    const r = await c.tsh(['ssh', `--port=${c.sshd.port}`, 'root@127.0.0.1', 'echo admitted'], { timeoutMs: 30_000 });
    expect(r.stdout, r.stderr).toContain('admitted');
    expect(Date.now() - t0).toBeLessThan(5_000);
    for (const s of open) s.destroy();
  }, 60_000);

  it('600 idle HTTPS sockets from one address do not stop /webapi/ping from another', async () => {
    const idle = await Promise.all(
      Array.from({ length: 600 }, () =>
        new Promise<net.Socket>((resolve) => {
          const s = net.connect({ host: '127.0.0.1', port: c.daemon.webPort, localAddress: '127.0.0.7' });
          s.on('error', () => {});
          s.once('connect', () => resolve(s));
          s.once('close', () => resolve(s));
          sockets.push(s);
        }),
      ),
    );
    await new Promise((r) => setTimeout(r, 200));
    const stillOpen = idle.filter((s) => !s.destroyed && s.readyState === 'open').length;
    const t0 = Date.now();
    const ping = await httpsRequest(c.daemon.webPort, 'GET', '/webapi/ping');
    expect(ping.status).toBe(200);
    expect(Date.now() - t0).toBeLessThan(5_000);
    // The one address keeps at most its share (MAX_WEB_CONNECTIONS_PER_SOURCE, 64).
    expect(stillOpen).toBeLessThanOrEqual(64);
    for (const s of idle) s.destroy();
  }, 60_000);

  it('eight hosts holding every HTTPS slot do not keep a ninth out: it takes the oldest slot of the busiest', async () => {
    const open = (host: string) =>
      new Promise<net.Socket>((resolve) => {
        const s = net.connect({ host: '127.0.0.1', port: c.daemon.webPort, localAddress: host });
        s.on('error', () => {});
        s.once('connect', () => resolve(s));
        s.once('close', () => resolve(s));
        sockets.push(s);
      });
    // 8 sources x 64 = MAX_WEB_CONNECTIONS (512): every slot taken, no source past its own cap.
    const held: net.Socket[] = [];
    for (let h = 0; h < 8; h++) held.push(...(await Promise.all(Array.from({ length: 64 }, () => open(`127.0.5.${h + 1}`)))));
    await new Promise((r) => setTimeout(r, 200));
    const t0 = Date.now();
    const ping = await httpsRequest(c.daemon.webPort, 'GET', '/webapi/ping', undefined, { connection: 'close' }, '127.0.5.99');
    expect(ping.status).toBe(200);
    expect(Date.now() - t0).toBeLessThan(5_000);
    for (const s of held) s.destroy();
  }, 60_000);
});
