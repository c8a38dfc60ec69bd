import { spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { generateEd25519, fingerprint, publicKeyLine } from '../../src/lib/ca/keys.js';
import { allowedSignersLine, signSshsig } from '../../src/lib/ca/sshsig.js';
import { AsciicastWriter } from '../../src/lib/recording/asciicast-writer.js';
import type { RecordingSigner } from '../../src/lib/recording/integrity.js';
import { closeInterruptedRecording } from '../../src/lib/recording/recover.js';
import { verifyRecording } from '../../src/lib/recording/verify.js';

const NS = 'tollgate-recording';
function makeSigner(): RecordingSigner {
  const k = generateEd25519();
  return {
    publicBlob: k.publicBlob,
    identity: 'tollgate-recording@test',
    namespace: NS,
    sign: (m) => crypto.sign(null, m, k.privateKey),
    signSshsig: (h, ns = NS) => signSshsig(k.privateKey, k.publicBlob, ns, h, 'sha256'),
  };
}
const signer = makeSigner();
const SID = '11111111-2222-3333-4444-555555555555';

function dir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'tollgate-integrity-'));
}

/** A recording of `n` output lines, one per simulated second, with a checkpoint every 2 s. */
async function record(file: string, n: number, opts: { close?: boolean; snapshotAt?: number; snapshotDir?: string } = {}) {
  let t = 1_000_000;
  const w = new AsciicastWriter(file, { width: 80, height: 24, timestamp: 1700000000 }, { now: () => t, integrity: { session: SID, signer, fingerprint: fingerprint(signer.publicBlob), checkpointIntervalMs: 2000 } });
  for (let i = 1; i <= n; i++) {
    t += 1000;
    w.output(Buffer.from(`line ${i}\r\n`));
    w.flush();
    await w.settled();
    if (opts.snapshotAt === i) {
      // What the disk holds if the process is killed now.
      fs.copyFileSync(file, path.join(opts.snapshotDir!, 'crash.cast'));
      fs.copyFileSync(`${file}.chain`, path.join(opts.snapshotDir!, 'crash.cast.chain'));
    }
  }
  if (opts.close !== false) {
    await w.close();
    fs.writeFileSync(`${file}.sig`, signer.signSshsig(crypto.createHash('sha256').update(fs.readFileSync(file)).digest()));
  }
  return w;
}

const verify = (castFile: string) => verifyRecording({ castFile, session: SID, publicBlob: signer.publicBlob, namespace: NS });

function sshKeygenVerify(d: string, file: string, data?: Buffer, ns = NS): boolean {
  const signers = path.join(d, 'allowed_signers');
  fs.writeFileSync(signers, `${allowedSignersLine(signer.identity, `${NS},${NS}-interrupted`, publicKeyLine(signer.publicBlob))}\n`);
  const r = spawnSync('ssh-keygen', ['-Y', 'verify', '-f', signers, '-I', signer.identity, '-n', ns, '-s', `${file}.sig`], { input: data ?? fs.readFileSync(file) });
  return r.status === 0;
}

describe('recording integrity', () => {
  it('a finished recording verifies, with our verifier and with stock ssh-keygen', async () => {
    const d = dir();
    const f = path.join(d, 'a.cast');
    await record(f, 7);
    const r = await verify(f);
    expect(r.verdict).toBe('verified');
    expect(r.signature).toBe(true);
    expect(r.verifiedUntil).toBe(7);
    expect(sshKeygenVerify(d, f)).toBe(true);
    // checkpoints were written while it ran (header + every 2 s) and the sidecar is not secret
    const side = fs.readFileSync(`${f}.chain`, 'utf8');
    expect(side.match(/"cp":/g)!.length).toBeGreaterThanOrEqual(4);
    expect(side).toContain('"end":"complete"');
  });

  it('one changed byte of output is altered: names the event, its time and offset', async () => {
    const d = dir();
    const f = path.join(d, 'a.cast');
    await record(f, 9);
    const text = fs.readFileSync(f, 'utf8');
    const offset = text.indexOf('line 5');
    fs.writeFileSync(f, `${text.slice(0, offset)}LINE 5${text.slice(offset + 6)}`);
    const r = await verify(f);
    expect(r.verdict).toBe('altered');
    expect(r.event).toEqual({ index: 5, time: 5, offset: text.lastIndexOf('\n', offset) + 1 });
    expect(r.summary).toMatch(/event 5 at 5\.0s/);
    expect(sshKeygenVerify(d, f)).toBe(false);
  });

  it('a forged or reordered sidecar, a cut file and bytes appended after the end are altered', async () => {
    const d = dir();
    const f = path.join(d, 'a.cast');
    await record(f, 5);
    const good = fs.readFileSync(f);
    const side = fs.readFileSync(`${f}.chain`, 'utf8');
    // signatures by another key
    const other = makeSigner();
    const forged = side.replace(/"sig":"[^"]+"/, `"sig":"${other.sign(Buffer.from('x')).toString('base64')}"`);
    fs.writeFileSync(`${f}.chain`, forged);
    expect((await verify(f)).verdict).toBe('altered');
    fs.writeFileSync(`${f}.chain`, side);
    // the last event cut off
    fs.writeFileSync(f, good.subarray(0, good.length - 12));
    expect((await verify(f)).verdict).toBe('altered');
    // one byte appended after a complete recording
    fs.writeFileSync(f, Buffer.concat([good, Buffer.from('x')]));
    const r = await verify(f);
    expect(r.verdict).toBe('altered');
    expect(r.summary).toMatch(/added after the signed end/);
    fs.writeFileSync(f, good);
    expect((await verify(f)).verdict).toBe('verified');
    // another session's sidecar
    const r2 = await verifyRecording({ castFile: f, session: 'aaaaaaaa-2222-3333-4444-555555555555', publicBlob: signer.publicBlob, namespace: NS });
    expect(r2.verdict).toBe('altered');
  });

  it('a crash: verifies as incomplete up to its last checkpoint; appended bytes are never verified', async () => {
    const d = dir();
    const live = path.join(d, 'live.cast');
    // snapshot after line 7: checkpoints at 2, 4, 6 s; line 7 is written but not checkpointed
    const w = await record(live, 8, { close: false, snapshotAt: 7, snapshotDir: d });
    void w;
    const f = path.join(d, 'crash.cast');
    const before = await verify(f);
    expect(before.verdict).toBe('incomplete');
    expect(before.verifiedUntil).toBe(6);
    expect(before.unverifiedBytes).toBeGreaterThan(0);

    const closed = await closeInterruptedRecording(f, SID, signer);
    expect(closed.verdict).toBe('incomplete');
    expect(closed.verifiedUntil).toBe(6);
    expect(closed.signature).toBe(true);
    expect(closed.summary).toMatch(/interrupted/);
    // the .sig covers exactly the checkpointed prefix, in its own namespace: ssh-keygen accepts the
    // prefix as an interrupted recording, never as a complete one, and never the whole file
    const prefix = fs.readFileSync(f).subarray(0, closed.verifiedBytes);
    expect(sshKeygenVerify(d, f, prefix, `${NS}-interrupted`)).toBe(true);
    expect(sshKeygenVerify(d, f, prefix)).toBe(false);
    expect(sshKeygenVerify(d, f, undefined, `${NS}-interrupted`)).toBe(false);

    fs.appendFileSync(f, 'x');
    const after = await verify(f);
    expect(after.verdict).toBe('incomplete');
    expect(after.verifiedBytes).toBe(closed.verifiedBytes);
    expect(after.unverifiedBytes).toBe(closed.unverifiedBytes + 1);
    // closing twice changes nothing
    expect((await closeInterruptedRecording(f, SID, signer)).verifiedBytes).toBe(closed.verifiedBytes);
  });

  it('without a sidecar the detached signature alone decides; with neither it is unsigned', async () => {
    const d = dir();
    const f = path.join(d, 'a.cast');
    await record(f, 3);
    fs.rmSync(`${f}.chain`);
    expect((await verify(f)).verdict).toBe('verified');
    fs.appendFileSync(f, 'x');
    expect((await verify(f)).verdict).toBe('altered');
    fs.rmSync(`${f}.sig`);
    expect((await verify(f)).verdict).toBe('unsigned');
  });

  describe('attacks from the review (write access to storage, no key)', () => {
    it('deleting the sidecar is altered when the index says the recording has one; a prefix signature never passes for a whole recording', async () => {
      const d = dir();
      const f = path.join(d, 'a.cast');
      await record(f, 3);
      fs.rmSync(`${f}.chain`);
      expect((await verifyRecording({ castFile: f, session: SID, publicBlob: signer.publicBlob, namespace: NS, expectIntegrity: true })).verdict).toBe('altered');

      const live = path.join(d, 'live.cast');
      await record(live, 8, { close: false, snapshotAt: 7, snapshotDir: d });
      const c = path.join(d, 'crash.cast');
      const closed = await closeInterruptedRecording(c, SID, signer);
      fs.writeFileSync(c, fs.readFileSync(c).subarray(0, closed.verifiedBytes));
      fs.rmSync(`${c}.chain`);
      expect((await verify(c)).verdict).toBe('altered');
    });

    it('a finished recording cut back to a checkpoint with its end record removed is altered, not a crash', async () => {
      const d = dir();
      const f = path.join(d, 'a.cast');
      await record(f, 7);
      const side = fs.readFileSync(`${f}.chain`, 'utf8').split('\n');
      // everything after checkpoint 1 removed from the sidecar, as a careful attacker would
      const cut = `${side.slice(0, side.findIndex((l) => l.includes('"cp":1')) + 1).join('\n')}\n`;
      const cp1 = JSON.parse(side.find((l) => l.includes('"cp":1'))!) as { bytes: number };
      const endRec = JSON.parse(side.find((l) => l.includes('"end"'))!) as { bytes: number; chain: string };
      fs.writeFileSync(`${f}.chain`, cut);
      fs.truncateSync(f, cp1.bytes);
      // the .sig is still there: a signature without a signed end is tampering
      expect((await verify(f)).verdict).toBe('altered');
      fs.rmSync(`${f}.sig`);
      // without the .sig only the index can tell: it keeps where the recording was sealed
      expect((await verify(f)).verdict).toBe('incomplete');
      const sealed = await verifyRecording({ castFile: f, session: SID, publicBlob: signer.publicBlob, namespace: NS, sealed: { bytes: endRec.bytes, chain: endRec.chain } });
      expect(sealed.verdict).toBe('altered');
      expect(sealed.summary).toMatch(/sealed at/);
      // an emptied sidecar
      fs.writeFileSync(`${f}.chain`, '\n');
      expect((await verify(f)).verdict).toBe('altered');
    });

    it('a huge line after the last checkpoint is not read; per-event hashes before a good checkpoint cannot shift the blame', async () => {
      const d = dir();
      const f = path.join(d, 'a.cast');
      await record(f, 9);
      const before = fs.statSync(f).size;
      const big = Buffer.alloc(64 << 20, 0x61);
      fs.appendFileSync(f, big);
      const t = performance.now();
      const r = await verify(f);
      expect(r.verdict).toBe('altered');
      expect(r.verifiedBytes).toBe(before);
      expect(performance.now() - t).toBeLessThan(5000);
      fs.truncateSync(f, before);

      const side = fs.readFileSync(`${f}.chain`, 'utf8');
      const text = fs.readFileSync(f, 'utf8');
      const o = text.indexOf('line 8');
      fs.writeFileSync(f, `${text.slice(0, o)}LINE 8${text.slice(o + 6)}`);
      // forge the unsigned hash of event 2 (covered by a good checkpoint)
      fs.writeFileSync(`${f}.chain`, side.replace(/"h":\["[^"]+"/, '"h":["00000000"'));
      const r2 = await verify(f);
      expect(r2.verdict).toBe('altered');
      expect(r2.event?.index).toBe(8);
    });
  });

  it('the header names its session: a signed recording copied under another id is altered, with or without its sidecar', async () => {
    const d = dir();
    const a = path.join(d, `${SID}.cast`);
    const w = new AsciicastWriter(a, { width: 80, height: 24, timestamp: 1700000000, session: SID, user: 'joe', login: 'root', node: 'n1', started_at: '2023-11-14T22:13:20.000Z' }, { integrity: { session: SID, signer, fingerprint: fingerprint(signer.publicBlob) } });
    w.output(Buffer.from('hello\r\n'));
    await w.close();
    fs.writeFileSync(`${a}.sig`, signer.signSshsig(crypto.createHash('sha256').update(fs.readFileSync(a)).digest()));
    const head = JSON.parse(fs.readFileSync(a, 'utf8').split('\n')[0]!) as Record<string, unknown>;
    expect(head).toMatchObject({ version: 2, session: SID, user: 'joe', login: 'root', node: 'n1', started_at: '2023-11-14T22:13:20.000Z' });
    expect((await verify(a)).verdict).toBe('verified');
    const other = crypto.randomUUID();
    const b = path.join(d, `${other}.cast`);
    for (const ext of ['', '.chain', '.sig']) fs.copyFileSync(a + ext, b + ext);
    const asB = await verifyRecording({ castFile: b, session: other, publicBlob: signer.publicBlob, namespace: NS });
    expect(asB.verdict).toBe('altered');
    expect(asB.summary).toContain(`names session ${SID}, not ${other}`);
    fs.rmSync(`${b}.chain`);
    expect((await verifyRecording({ castFile: b, session: other, publicBlob: signer.publicBlob, namespace: NS })).verdict).toBe('altered');
    // stock tools: the signature still matches the bytes, and the header says whose they are
    expect(sshKeygenVerify(d, b)).toBe(true);
  });
});
