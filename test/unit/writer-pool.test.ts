import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { generateEd25519, fingerprint } from '../../src/lib/ca/keys.js';
import { signSshsig } from '../../src/lib/ca/sshsig.js';
import { AsciicastWriter, type WriterOptions } from '../../src/lib/recording/asciicast-writer.js';
import type { RecordingSigner } from '../../src/lib/recording/integrity.js';
import { verifyRecording } from '../../src/lib/recording/verify.js';
import type { CastWriter, WriterPool } from '../../src/lib/recording/writer-pool.js';
import { nullLogger } from '../../src/lib/log.js';
import { sessionFixture } from '../helpers/session-fixture.js';

// The worker script exists only in the build (pretest builds dist/), so the pool is the built one.
const built = path.resolve(import.meta.dirname, '../../dist/lib/recording/writer-pool.js');
const { createWriterPool } = (await import(built)) as typeof import('../../src/lib/recording/writer-pool.js');

const k = generateEd25519();
const NS = 'tollgate-recording';
const signer: RecordingSigner = {
  publicBlob: k.publicBlob,
  identity: 'tollgate-recording@test',
  namespace: NS,
  key: k.privateKey,
  sign: (m) => crypto.sign(null, m, k.privateKey),
  signSshsig: (h, ns = NS) => signSshsig(k.privateKey, k.publicBlob, ns, h, 'sha256'),
};
const SID = '11111111-2222-3333-4444-555555555555';
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tollgate-writer-pool-'));
const pools: WriterPool[] = [];
afterAll(async () => {
  await Promise.all(pools.map((p) => p.close()));
  fs.rmSync(dir, { recursive: true, force: true });
});
const header = { width: 80, height: 24, timestamp: 1700000000 };
const T0 = 1_700_000_000_000;
const noise = crypto.randomBytes(5000);

/** The same session, event by event with the relay's times, into any writer. */
function feed(w: CastWriter): void {
  w.output(Buffer.from('hello \u00e9'.slice(0, 7)), T0 + 10);
  // A character split across reads, binary, input, a resize and a marker, in stream order.
  const e = Buffer.from('\u00e9!\r\n');
  w.output(e.subarray(0, 1), T0 + 20);
  w.output(e.subarray(1), T0 + 30);
  w.output(noise, T0 + 40);
  w.input(Buffer.from('ls\r'), T0 + 50);
  w.resize(100, 30, T0 + 60);
  w.marker('a marker', T0 + 70);
  w.output(Buffer.from('done\r\n'.repeat(20000)), T0 + 80);
}

describe('recording in a worker thread (writer-pool)', () => {
  it('writes the same .cast and .bin as the writer in this thread, and a chain that verifies', async () => {
    const pool = createWriterPool(nullLogger, 2);
    pools.push(pool);
    const options = (): WriterOptions => ({ startTime: T0, recordInput: true, integrity: { session: SID, signer, fingerprint: fingerprint(signer.publicBlob) } });
    const local = path.join(dir, 'local.cast');
    const inThread = new AsciicastWriter(local, header, options());
    feed(inThread);
    const t1 = await inThread.close();
    const remote = path.join(dir, 'remote.cast');
    const checkpoints: unknown[] = [];
    const written: number[] = [];
    const w = await pool.open(remote, header, { ...options(), onWritten: (b) => written.push(b), integrity: { ...options().integrity!, onCheckpoint: (c) => checkpoints.push(c) } });
    expect(w).not.toBeInstanceOf(AsciicastWriter);
    expect(w.startTime).toBe(T0);
    feed(w);
    const t2 = await w.close();
    expect(fs.readFileSync(remote).equals(fs.readFileSync(local))).toBe(true);
    expect(fs.readFileSync(`${remote}.bin`).equals(fs.readFileSync(`${local}.bin`))).toBe(true);
    expect(t2.out).toEqual(t1.out);
    expect(t2.in).toEqual(t1.in);
    expect(t2.file.sha256?.equals(t1.file.sha256!)).toBe(true);
    expect(t2.sealed?.chain).toBe(t1.sealed?.chain);
    expect(checkpoints.length).toBeGreaterThanOrEqual(2);
    expect(written.reduce((a, b) => a + b, 0)).toBeGreaterThan(0);
    fs.writeFileSync(`${remote}.sig`, signer.signSshsig(t2.file.sha256!));
    expect((await verifyRecording({ castFile: remote, session: SID, publicBlob: signer.publicBlob, namespace: NS })).verdict).toBe('verified');
  });

  it('refuses to open over an existing file, as the writer does (nothing is overwritten)', async () => {
    const pool = createWriterPool(nullLogger, 1);
    pools.push(pool);
    const file = path.join(dir, 'exists.cast');
    fs.writeFileSync(file, 'keep me');
    await expect(pool.open(file, header, {})).rejects.toMatchObject({ code: 'EEXIST' });
    expect(fs.readFileSync(file, 'utf8')).toBe('keep me');
  });

  it('holds the relay back while the worker has not taken a session\'s bytes, and lets it go on once it has', async () => {
    const pool = createWriterPool(nullLogger, 1);
    pools.push(pool);
    const w = await pool.open(path.join(dir, 'pressure.cast'), header, {});
    const chunk = Buffer.alloc(512 * 1024, 'x');
    let ok = true;
    let n = 0;
    for (; n < 64 && ok; n++) ok = w.output(chunk);
    // Nothing was handed over yet in this turn: the relay is told to pause at the high-water mark.
    expect(ok).toBe(false);
    expect(n).toBe(8);
    await new Promise<void>((resolve) => w.onceDrained(resolve));
    const t = await w.close();
    expect(t.out.bytes).toBe(8 * chunk.length);
  });

  it('a recording limit is reported in the relay\'s turn, not when the worker gets to it', async () => {
    const pool = createWriterPool(nullLogger, 1);
    pools.push(pool);
    let limit = 0;
    const w = await pool.open(path.join(dir, 'limit.cast'), header, { maxOutputBytes: 100, onLimit: (l) => (limit = l) });
    w.output(Buffer.alloc(80, 'a'));
    expect(limit).toBe(0);
    w.output(Buffer.alloc(80, 'a'));
    expect(limit).toBe(100);
    await w.close();
    expect(fs.readFileSync(path.join(dir, 'limit.cast'), 'utf8')).toContain('recording limit reached');
  });

  it('a worker that dies fails its recordings (the session ends with the reason) and the next one gets a new worker', async () => {
    const pool = createWriterPool(nullLogger, 1);
    pools.push(pool);
    let failed: Error | undefined;
    const w = await pool.open(path.join(dir, 'dies.cast'), header, { onError: (e) => (failed = e) });
    // The only way to reach the thread from here: what the pool holds for this writer.
    const thread = (w as unknown as { thread: { worker: import('node:worker_threads').Worker } }).thread;
    await thread.worker.terminate();
    await expect.poll(() => failed?.message).toMatch(/recording worker exited/);
    expect(w.output(Buffer.from('x'))).toBe(true);
    await expect(w.close()).rejects.toThrow(/recording worker exited/);
    const next = await pool.open(path.join(dir, 'after.cast'), header, {});
    next.output(Buffer.from('still recording\r\n'));
    expect((await next.close()).out.bytes).toBe(17);
  });

  it('a session whose worker died is closed as interrupted at its last checkpoint, with the bytes the relay counted (not left unsealed for good)', async () => {
    const pool = createWriterPool(nullLogger, 1);
    pools.push(pool);
    const f = await sessionFixture({ writers: pool });
    try {
      const rec = await f.recordings.start({ user: 'joe', login: 'root', node: 'node1:22', clientAddr: '127.0.0.1', kind: 'exec', command: 'cat', pty: false, cols: 80, rows: 24 });
      const failures: Error[] = [];
      rec.onFailure((e) => failures.push(e));
      rec.output(Buffer.from('before the crash\n'));
      // The first checkpoint is signed at the start; let the bytes reach the file.
      await new Promise((r) => setTimeout(r, 400));
      const thread = (rec as unknown as { writer: { thread: { worker: import('node:worker_threads').Worker } } }).writer.thread;
      await thread.worker.terminate();
      await expect.poll(() => failures.length).toBe(1);
      await rec.end({ exitStatus: null, exitSignal: null, reason: 'recording failed' });
      const row = (await f.store.getSession(rec.id))!;
      expect(row.endedAt).not.toBeNull();
      expect(row.bytesOut).toBe(17);
      expect(row.recordingBytes).toBeGreaterThan(0);
      const verdict = await verifyRecording({ castFile: f.recordings.pathFor(rec.id), session: rec.id, publicBlob: f.auth.recordingSigner.publicBlob, namespace: NS });
      // As a crash recovery closes it: signed `interrupted` over the prefix its last checkpoint
      // covers; bytes written after that checkpoint stay unverified (so the verdict is incomplete).
      expect(verdict.endRecord?.kind).toBe('interrupted');
      expect(verdict.signature).toBe(true);
      expect(verdict.verifiedBytes).toBe(row.recordingBytes);
    } finally {
      await f.close();
    }
  });
});
