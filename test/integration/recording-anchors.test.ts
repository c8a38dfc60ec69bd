import { defaultKeysFile } from '../../src/lib/config/index.js';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AuthService } from '../../src/lib/auth/auth-service.js';
import { fileKeySource } from '../../src/lib/auth/sealed-keys.js';
import { fingerprint } from '../../src/lib/ca/index.js';
import { systemClock } from '../../src/lib/clock.js';
import { nullLogger } from '../../src/lib/log.js';
import { ChainWriter } from '../../src/lib/recording/integrity.js';
import { createSqliteStore } from '../../src/lib/store/sqlite.js';
import { sessions, startCluster, type Cluster } from '../helpers/cluster.js';
import { tmpDir, waitFor } from '../helpers/proc.js';

/*
 * Issue 16, "recording anchors off the data path": every signed checkpoint's hash is also an audit
 * event (recording.checkpoint), and `tctl recordings verify --audit` checks the recording against
 * them. An attacker with the data dir, the key file and so the recording key re-signs an edited
 * recording and rewrites its index row: plain verify is fooled, the audit anchors are not.
 */
describe('recording checkpoints anchored in the audit log', () => {
  let c: Cluster;
  let work: string;
  beforeAll(async () => {
    c = await startCluster();
    work = tmpDir('tollgate-anchors-');
  });
  afterAll(async () => {
    await c?.stop();
    fs.rmSync(work, { recursive: true, force: true });
  });

  it('verify --audit agrees with an intact recording and catches one re-signed with the stolen key', async () => {
    const r = await c.tsh(['ssh', `--port=${c.sshd.port}`, 'root@127.0.0.1', 'echo first-line; sleep 2.5; echo evidence-line; sleep 2.5; echo last-line']);
    expect(r.code, r.stderr).toBe(0);
    const s = (await sessions(c.daemon)).find((x) => x.command?.includes('evidence-line'))!;
    type Ev = { event: string; sid?: string; cp?: number | string; bytes?: number; chain?: string };
    let anchors: Ev[] = [];
    await waitFor(async () => {
      const all = JSON.parse((await c.daemon.tctl(['events', 'ls', '--type=recording.checkpoint', '--limit=1000', '--format=json'])).stdout) as Ev[];
      anchors = all.filter((e) => e.sid === s.id);
      return anchors.some((e) => e.cp === 'complete');
    }, 'the end record anchor');
    // One per checkpoint: the header's, the periodic ones (2 s apart, only when there was output), the end.
    expect(anchors.length).toBeGreaterThanOrEqual(3);
    expect(anchors.length).toBeLessThanOrEqual(8);
    const file = path.join(c.daemon.dataDir, 'recordings', `${s.id}.cast`);
    const complete = anchors.find((e) => e.cp === 'complete')!;
    expect(complete.bytes).toBe(fs.statSync(file).size);
    expect(complete.chain).toBe(crypto.createHash('sha256').update(fs.readFileSync(file)).digest('hex'));

    const ok = await c.daemon.tctl(['recordings', 'verify', '--audit', s.id]);
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stdout).toMatch(/^verified: .*; audit: agrees with \d+ checkpoint anchors in the audit log up to byte \d+$/m);

    // The attack: the data dir and its key file give the recording key.
    const store = await createSqliteStore(path.join(c.daemon.dataDir, 'tollgate.db'));
    const auth = new AuthService({ store, clock: systemClock, log: nullLogger, clusterName: 'example.test', publicWebAddr: { host: 'x', port: 1 }, maxSessionTtlMs: 1e9, certSourceAddresses: [], keys: fileKeySource(defaultKeysFile(c.daemon.dataDir)) });
    await auth.init();
    const signer = auth.recordingSigner;
    await store.close();
    // The output event, not the header's command line (which names it too).
    const original = fs.readFileSync(file, 'utf8');
    const at = original.lastIndexOf('evidence-line');
    const forged = `${original.slice(0, at)}evidencE-line${original.slice(at + 'evidence-line'.length)}`;
    const lines = forged.split(/(?<=\n)/);
    const data = Buffer.from(forged);
    const chain = new ChainWriter(s.id, signer, 2000, () => 0);
    const lastTime = (JSON.parse(lines[lines.length - 1]!) as [number])[0];
    const side = ChainWriter.header(s.id, fingerprint(signer.publicBlob)) + chain.link(lines.length, data, lastTime) + chain.checkpoint('complete');
    fs.writeFileSync(file, data);
    fs.writeFileSync(`${file}.chain`, side);
    fs.writeFileSync(`${file}.sig`, signer.signSshsig(chain.digest()));
    const db = new Database(path.join(c.daemon.dataDir, 'tollgate.db'));
    db.prepare('UPDATE sessions SET recording_bytes = ?, recording_chain = ? WHERE id = ?').run(chain.sealed!.bytes, chain.sealed!.chain, s.id);
    db.close();

    const fooled = await c.daemon.tctl(['recordings', 'verify', s.id]);
    expect(fooled.code, `${fooled.stdout}${fooled.stderr}`).toBe(0);
    expect(fooled.stdout).toMatch(/^verified: /);
    const caught = await c.daemon.tctl(['recordings', 'verify', '--audit', s.id, '--format=json']);
    expect(caught.code).toBe(4);
    const json = JSON.parse(caught.stdout) as { verdict: string; audit: { verdict: string; mismatch: { cp: number | string } } };
    expect(json.verdict).toBe('altered');
    expect(json.audit.verdict).toBe('disagrees');
    expect(json.audit.mismatch.cp).not.toBe(1);

    // Off the data path: the exported audit log checks a copy of the file, with no auth service answer needed for the anchors.
    const exported = path.join(work, 'events.json');
    fs.writeFileSync(exported, (await c.daemon.tctl(['events', 'ls', '--type=recording.checkpoint', '--limit=1000', '--format=json'])).stdout);
    const copy = path.join(work, `${s.id}.cast`);
    for (const ext of ['', '.chain', '.sig']) fs.copyFileSync(file + ext, copy + ext);
    const signers = path.join(work, 'allowed_signers');
    fs.writeFileSync(signers, (await c.daemon.tctl(['auth', 'export', '--type=recording'])).stdout);
    const offline = await c.daemon.tctl(['recordings', 'verify', copy, `--allowed-signers=${signers}`, `--audit-file=${exported}`]);
    expect(offline.code).toBe(4);
    expect(offline.stdout).toMatch(/audit: the recording does not agree with the audit log: checkpoint \d+ says the first \d+ bytes hash to/);
  });
});
