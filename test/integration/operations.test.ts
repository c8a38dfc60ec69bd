import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectRecordingVerified, sessions, spawnTshSsh, startCluster, type Cluster } from '../helpers/cluster.js';
import { freePort, tmpDir, waitFor } from '../helpers/proc.js';
import { startPrometheus, type TestPrometheus } from '../helpers/prometheus.js';

/**
 * Issue 21's acceptance against a real daemon (JSON logs, diag_addr), a real sshd, real tsh and
 * a real Prometheus scraping the daemon every second. The SIGTERM test runs last: it ends the daemon.
 */
describe('operations: metrics, readiness, JSON logs, graceful shutdown', () => {
  let c: Cluster;
  let prom: TestPrometheus | undefined;
  let diagPort: number;
  const work = tmpDir('tollgate-ops-');
  const diag = (p: string) => fetch(`http://127.0.0.1:${diagPort}${p}`);

  beforeAll(async () => {
    diagPort = await freePort();
    c = await startCluster({ teleportYaml: [`  diag_addr: 127.0.0.1:${diagPort}`, '  drain_timeout: 20s', '  log:', '    format: json'].join('\n') });
    prom = await startPrometheus(`127.0.0.1:${diagPort}`);
  }, 60_000);
  afterAll(async () => {
    await prom?.stop();
    await c?.stop();
    fs.rmSync(work, { recursive: true, force: true });
  });

  it('a real Prometheus sees up == 1, one active session while it runs, and more started/ended sessions and bytes after it', async () => {
    const p = prom!;
    await waitFor(async () => (await p.value('up{job="tollgate"}')) === 1, 'up == 1', 20_000);
    // Series exist from the start (zeros), so "increased" compares real numbers.
    await waitFor(async () => (await p.value('sum(tollgate_sessions_started_total)')) !== undefined, 'session counters scraped', 10_000);
    const before = {
      started: (await p.value('sum(tollgate_sessions_started_total)'))!,
      ended: (await p.value('sum(tollgate_sessions_ended_total)'))!,
      out: (await p.value('sum(tollgate_session_bytes_total{direction="out"})'))!,
    };
    expect(await p.value('sum(tollgate_sessions_active)')).toBe(0);
    const session = c.tsh(['ssh', `--port=${c.sshd.port}`, 'root@127.0.0.1', 'echo metrics-session; sleep 8; echo done'], { timeoutMs: 30_000 });
    await waitFor(async () => (await p.value('sum(tollgate_sessions_active)')) === 1, 'active sessions == 1 in Prometheus', 10_000);
    expect(await p.value('tollgate_sessions_active{kind="exec"}')).toBe(1);
    const r = await session;
    expect(r, r.stderr).toMatchObject({ code: 0, stdout: 'metrics-session\ndone\n' });
    await waitFor(async () => (await p.value('sum(tollgate_sessions_active)')) === 0, 'active sessions back to 0', 8_000);
    await waitFor(async () => (await p.value('sum(tollgate_sessions_ended_total)'))! > before.ended, 'ended sessions increased', 8_000);
    expect((await p.value('sum(tollgate_sessions_started_total)'))!).toBeGreaterThan(before.started);
    expect((await p.value('sum(tollgate_session_bytes_total{direction="out"})'))!).toBeGreaterThanOrEqual(before.out + 'metrics-session\ndone\n'.length);
    expect((await p.value('tollgate_recording_bytes_written_total'))!).toBeGreaterThan(0);
    // tsh login's certificate, counted from the audit log; default process metrics are there too.
    expect((await p.value('tollgate_certificates_generated_total{type="user"}'))!).toBeGreaterThanOrEqual(1);
    expect((await p.value('process_resident_memory_bytes'))!).toBeGreaterThan(0);
    // No user names or session ids as labels anywhere.
    const text = await (await diag('/metrics')).text();
    expect(text).not.toMatch(/joe|[0-9a-f]{8}-[0-9a-f]{4}-/);
  }, 60_000);

  it('/healthz answers 200; /readyz answers 200, and 503 naming the recording storage when the recordings dir is read-only', async () => {
    expect((await diag('/healthz')).status).toBe(200);
    const ok = await diag('/readyz');
    expect(ok.status).toBe(200);
    expect(await ok.json()).toMatchObject({ status: 'ok', checks: { store: 'ok', 'recording storage': 'ok', 'ssh listener': 'ok', 'web listener': 'ok' } });
    const dir = path.join(c.daemon.dataDir, 'recordings');
    fs.mkdirSync(dir, { recursive: true });
    fs.chmodSync(dir, 0o500);
    try {
      const bad = await diag('/readyz');
      expect(bad.status).toBe(503);
      const body = (await bad.json()) as { status: string; error: string; checks: Record<string, string> };
      expect(body.error).toMatch(/^recording storage: .*recordings is read-only/);
      expect(body.checks.store).toBe('ok');
    } finally {
      fs.chmodSync(dir, 0o700);
    }
    expect((await diag('/readyz')).status).toBe(200);
    expect((await diag('/nope')).status).toBe(404);
  });

  it('with log.format: json every line the daemon wrote during sessions parses as JSON with level and component', () => {
    const lines = c.daemon.process.output.split('\n').filter((l) => l !== '');
    expect(lines.length).toBeGreaterThan(5);
    for (const line of lines) {
      let obj: Record<string, unknown>;
      try {
        obj = JSON.parse(line) as Record<string, unknown>;
      } catch {
        throw new Error(`not JSON: ${line}`);
      }
      expect(obj, line).toMatchObject({ level: expect.stringMatching(/^(debug|info|warn|error)$/), component: expect.any(String), msg: expect.any(String), time: expect.any(String) });
    }
    // The session's own lines are among them, with the fields text logs show.
    expect(lines.some((l) => /"msg":"session started".*"kind":"exec"/.test(l))).toBe(true);
  });

  it('SIGTERM during a session that prints for 3 more seconds: it completes, its recording verifies, new connections are refused, the daemon exits 0', async () => {
    const signers = path.join(work, 'allowed_signers');
    fs.writeFileSync(signers, (await c.daemon.tctl(['auth', 'export', '--type=recording'])).stdout);
    const tsh = spawnTshSsh(c, [`--port=${c.sshd.port}`, 'root@127.0.0.1', 'echo tick 0; for i in 1 2 3; do sleep 1; echo tick $i; done']);
    try {
      await waitFor(() => tsh.out().includes('tick 0'), 'the session to start', 15_000);
      c.daemon.process.child.kill('SIGTERM');
      await c.daemon.process.waitForOutput('"msg":"draining', 5_000);
      // New connections are refused while the session finishes, on both listeners.
      const refused = (port: number) =>
        new Promise<string>((resolve) => {
          const s = net.connect(port, '127.0.0.1');
          s.once('connect', () => (s.destroy(), resolve('connected')));
          s.once('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message));
        });
      expect(await refused(c.sshPort)).toBe('ECONNREFUSED');
      expect(await refused(c.daemon.webPort)).toBe('ECONNREFUSED');
      expect(c.daemon.process.running).toBe(true);
      expect(await tsh.exited, tsh.err()).toBe(0);
      expect(tsh.out()).toBe('tick 0\ntick 1\ntick 2\ntick 3\n');
    } finally {
      tsh.child.kill('SIGKILL');
    }
    expect(await c.daemon.process.waitForExit(15_000)).toBe(0);
    expect(c.daemon.process.output).toMatch(/"msg":"drained".*"ended_by_shutdown":0/);
    await expectRecordingVerified(c.daemon, 'tick', signers);
  }, 60_000);
});
