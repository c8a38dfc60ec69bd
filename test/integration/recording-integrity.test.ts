import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchBrowser } from '../helpers/browser.js';
import { sessions, startCluster, type Cluster } from '../helpers/cluster.js';
import { startDaemon, type TestDaemon } from '../helpers/daemon.js';
import { httpsRequest } from '../helpers/https.js';
import { ROOT, run, spawnBackground, tmpDir } from '../helpers/proc.js';

/** Issue 9: recordings that cannot be altered unnoticed, survive a crash as evidence, and can be shared. */
describe('recording integrity through the proxy', () => {
  let c: Cluster;
  let work: string;
  let signers: string;
  let restarted: TestDaemon | undefined;

  beforeAll(async () => {
    c = await startCluster();
    work = tmpDir('tollgate-integrity-');
    signers = path.join(work, 'allowed_signers');
    fs.writeFileSync(signers, (await c.daemon.tctl(['auth', 'export', '--type=recording'])).stdout);
  });
  afterAll(async () => {
    await restarted?.stop();
    await c?.stop();
    fs.rmSync(work, { recursive: true, force: true });
  });

  const daemon = () => restarted ?? c.daemon;
  const castOf = (id: string) => path.join(daemon().dataDir, 'recordings', `${id}.cast`);
  const keygenVerify = (file: string, data = file, ns = 'tollgate-recording') =>
    run('bash', ['-c', `ssh-keygen -Y verify -f ${signers} -I tollgate-recording@example.test -n ${ns} -s ${file}.sig < ${data}`]);

  it('ssh-keygen -Y verify accepts an intact recording and rejects one changed byte; tctl recordings verify names the altered event', async () => {
    const r = await c.tsh(['ssh', `--port=${c.sshd.port}`, 'root@127.0.0.1', 'echo first-line; sleep 0.3; echo evidence-line; sleep 0.3; echo last-line']);
    expect(r.code, r.stderr).toBe(0);
    const s = (await sessions(c.daemon)).find((x) => x.command?.includes('evidence-line'))!;
    const file = castOf(s.id);
    expect((await keygenVerify(file)).code).toBe(0);
    const ok = await c.daemon.tctl(['recordings', 'verify', s.id]);
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stdout).toMatch(/^verified: /);

    const text = fs.readFileSync(file, 'utf8');
    const lines = text.split('\n');
    const index = lines.findIndex((l) => l.startsWith('[') && l.includes('evidence-line'));
    const time = (JSON.parse(lines[index]!) as [number])[0];
    const offset = Buffer.byteLength(lines.slice(0, index).join('\n')) + 1;
    fs.writeFileSync(file, lines.map((l, i) => (i === index ? l.replace('evidence-line', 'evidencE-line') : l)).join('\n'));
    expect((await keygenVerify(file)).code).not.toBe(0);
    const bad = await c.daemon.tctl(['recordings', 'verify', s.id]);
    expect(bad.code).toBe(4);
    expect(bad.stdout).toContain(`event ${index} at ${time.toFixed(1)}s (byte ${offset})`);
    const json = JSON.parse((await c.daemon.tctl(['recordings', 'verify', s.id, '--format=json'])).stdout) as { verdict: string; altered_event: { index: number; offset: number } };
    expect(json).toMatchObject({ verdict: 'altered', altered_event: { index, offset } });
    // the same verdict offline, on a copy, with only the allowed_signers line
    const copy = path.join(work, `${s.id}.cast`);
    for (const ext of ['', '.chain', '.sig']) fs.copyFileSync(file + ext, copy + ext);
    const offline = await c.daemon.tctl(['recordings', 'verify', copy, `--allowed-signers=${signers}`]);
    expect(offline.code).toBe(4);
    // and tsh play --verify through the proxy plays it but says so, with the altered exit code
    const play = await c.tsh(['play', s.id, '--verify', '--format=text']);
    expect(play.code).toBe(4);
    expect(play.stderr).toMatch(/altered: /);
    expect(play.stdout).toContain('evidencE-line');
    fs.writeFileSync(file, text);
    const again = await c.tsh(['play', s.id, '--verify', '--format=text']);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stderr).toMatch(/recording verified/);
  });

  it('the exported HTML plays in Chromium with every request blocked, and names no external URL (tsh and the web UI)', async () => {
    const s = (await sessions(c.daemon)).find((x) => x.command?.includes('evidence-line'))!;
    const out = path.join(work, 'session.html');
    const r = await c.tsh(['recordings', 'export', s.id, '--format=html', '-o', out]);
    expect(r.code, r.stderr).toBe(0);
    const fromWeb = await httpsRequest(c.daemon.webPort, 'GET', `/webapi/sessions/${s.id}/export.html`, undefined, { authorization: `Bearer ${(JSON.parse(fs.readFileSync(path.join(c.home, '127.0.0.1.json'), 'utf8')) as { token: string }).token}` });
    expect(fromWeb.status).toBe(200);
    const webFile = path.join(work, 'web.html');
    fs.writeFileSync(webFile, fromWeb.text);
    // refuses to overwrite without --overwrite, and leaves the file alone
    const again = await c.tsh(['recordings', 'export', s.id, '--format=html', '-o', out]);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/exists.*--overwrite/);

    const browser = await launchBrowser();
    try {
      for (const file of [out, webFile]) {
        const html = fs.readFileSync(file, 'utf8');
        expect(html).not.toMatch(/https?:\/\//);
        expect(html).toContain('Verified');
        const context = await browser.newContext();
        const requests: string[] = [];
        const pageUrl = `file://${file}`;
        await context.route('**/*', (route) => {
          if (route.request().url() === pageUrl) return route.continue();
          requests.push(route.request().url());
          return route.abort();
        });
        const page = await context.newPage();
        await page.goto(pageUrl);
        await page.locator('#tg-user').waitFor();
        expect(await page.locator('#tg-user').textContent()).toBe('joe');
        await page.locator('.ap-overlay-start').click();
        await page.waitForFunction(() => document.querySelector('.ap-term')?.textContent?.includes('last-line'), undefined, { timeout: 15_000 });
        expect(requests).toEqual([]);
        await context.close();
      }
    } finally {
      await browser.close();
    }
    // the other formats
    const text = await c.tsh(['recordings', 'export', s.id, '--format=text', '-o', '-']);
    expect(text.stdout).toContain('evidence-line');
    const castOut = path.join(work, 'exported.cast');
    expect((await c.tsh(['recordings', 'export', s.id, '--format=cast', '-o', castOut])).code).toBe(0);
    expect(fs.readFileSync(castOut)).toEqual(fs.readFileSync(castOf(s.id)));
    expect((await keygenVerify(castOut)).code).toBe(0);
  });

  it('kill -9 mid-session, restart: the session is interrupted and verifies as incomplete up to shortly before the kill; appended bytes stay unverified', async () => {
    const client = spawnBackground(process.execPath, [path.join(ROOT, 'bin/tsh'), 'ssh', `--port=${c.sshd.port}`, 'root@127.0.0.1', 'for i in $(seq 1 300); do echo tick-$i; sleep 0.2; done'], { cwd: ROOT, env: c.env });
    try {
      await client.waitForOutput('tick-25', 30_000);
      const killedAt = Date.now();
      c.daemon.process.child.kill('SIGKILL');
      await c.daemon.process.waitForExit();
      await client.waitForExit(15_000);
      const s = (await sessions(c.daemon)).find((x) => x.command?.includes('tick-'))!;
      expect(s.endedAt).toBeNull();

      restarted = await startDaemon({ proxy: true, dataDir: c.daemon.dataDir, yaml: fs.readFileSync(c.daemon.configFile, 'utf8') });
      await restarted.process.waitForOutput('closed a session the last run left open');
      const ls = await restarted.tctl(['sessions', 'ls']);
      expect(ls.stdout.split('\n').find((l) => l.startsWith(s.id))).toContain('interrupted');
      const events = JSON.parse((await restarted.tctl(['events', 'ls', '--type=session.end', '--format=json'])).stdout) as Array<{ sid: string; reason: string }>;
      expect(events.find((e) => e.sid === s.id)?.reason).toBe('interrupted');

      const v = await restarted.tctl(['recordings', 'verify', s.id, '--format=json']);
      expect(v.code, v.stdout + v.stderr).toBe(5);
      const j = JSON.parse(v.stdout) as { verdict: string; verified_until: number; verified_bytes: number; unverified_bytes: number };
      expect(j.verdict).toBe('incomplete');
      expect(s.startedAt + j.verified_until * 1000).toBeGreaterThan(killedAt - 10_000);
      // the detached signature covers exactly the checkpointed prefix, as an interrupted recording
      const prefix = path.join(work, 'prefix.cast');
      fs.writeFileSync(prefix, fs.readFileSync(castOf(s.id)).subarray(0, j.verified_bytes));
      expect((await keygenVerify(castOf(s.id), prefix, 'tollgate-recording-interrupted')).code).toBe(0);
      expect((await keygenVerify(castOf(s.id), prefix)).code).not.toBe(0);

      fs.appendFileSync(castOf(s.id), '[99.0, "o", "forged after the crash\\r\\n"]\n');
      const after = await restarted.tctl(['recordings', 'verify', s.id, '--format=json']);
      expect(after.code).toBe(5);
      const ja = JSON.parse(after.stdout) as { verdict: string; verified_bytes: number; unverified_bytes: number; summary: string };
      expect(ja.verdict).toBe('incomplete');
      expect(ja.verified_bytes).toBe(j.verified_bytes);
      expect(ja.unverified_bytes).toBeGreaterThan(j.unverified_bytes);
      expect(ja.summary).toMatch(/unverified/);
    } finally {
      await client.stop();
    }
  });
});
