import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCluster, type Cluster } from '../helpers/cluster.js';

type EventJson = { id: string; event: string; user: string | null; sid?: string; reason?: string; recorded?: boolean; bytes_out?: number };

/** client_idle_timeout, and session_recording: off, against a real daemon, sshd and tsh. */
describe('session limits and recording off', () => {
  let c: Cluster;
  const events = async (type: string) => JSON.parse((await c.daemon.tctl(['events', 'ls', `--type=${type}`, '--format=json'])).stdout) as EventJson[];
  const casts = () => (fs.existsSync(path.join(c.daemon.dataDir, 'recordings')) ? fs.readdirSync(path.join(c.daemon.dataDir, 'recordings')).filter((f) => f.endsWith('.cast')) : []);

  beforeAll(async () => {
    c = await startCluster({ authYaml: ['  client_idle_timeout: 3s', '  session_recording: off'].join('\n') });
  });
  afterAll(() => c?.stop());

  it('client_idle_timeout: 3s ends an idle session within 6 s, tells the client why, and says so in session.end', async () => {
    const started = Date.now();
    const r = await c.tsh(['ssh', `--port=${c.sshd.port}`, 'root@127.0.0.1', 'sleep 30'], { timeoutMs: 20_000 });
    const ms = Date.now() - started;
    expect(r.code).toBe(255);
    expect(r.stderr).toMatch(/^tollgate: the session was idle for 3s \(client_idle_timeout\); closing it/m);
    expect(ms).toBeLessThan(6_000 + 1_500); // + tsh's own start-up
    const [end] = await events('session.end');
    expect(end).toMatchObject({ user: 'joe', reason: 'idle for 3s' });
  });

  it('output keeps a session alive past the idle timeout', async () => {
    const r = await c.tsh(['ssh', `--port=${c.sshd.port}`, 'root@127.0.0.1', 'for i in 1 2 3 4 5 6; do echo tick; sleep 1; done'], { timeoutMs: 20_000 });
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('tick\n'.repeat(6));
  });

  it('session_recording: off relays and audits the session but writes no recording; tctl status says so', async () => {
    const before = casts();
    const r = await c.tsh(['ssh', `--port=${c.sshd.port}`, 'root@127.0.0.1', 'echo not-recorded']);
    expect(r).toMatchObject({ code: 0, stdout: 'not-recorded\n' });
    expect(casts()).toEqual(before);
    const [start] = await events('session.start');
    const [end] = await events('session.end');
    expect(start).toMatchObject({ user: 'joe', recorded: false });
    expect(end).toMatchObject({ sid: start!.sid, recorded: false, bytes_out: 'not-recorded\n'.length, reason: 'exit' });
    const status = await c.daemon.tctl(['status']);
    expect(status.stdout).toMatch(/^Recording:\s+off/m);
    expect(status.stderr).toMatch(/session recording is off/);
  });
});
