import crypto from 'node:crypto';
import fs from 'node:fs';
import type { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { generateEd25519 } from '../../src/lib/ca/keys.js';
import { signSshsig } from '../../src/lib/ca/sshsig.js';
import { systemClock } from '../../src/lib/clock.js';
import { createAuditor } from '../../src/lib/audit/index.js';
import { nullLogger } from '../../src/lib/log.js';
import type { RecordingSigner } from '../../src/lib/recording/integrity.js';
import { sealedOf } from '../../src/lib/recording/session-json.js';
import { RecordingService } from '../../src/lib/recording/session-recorder.js';
import type { RecordingStorage } from '../../src/lib/recording/storage.js';
import { verifyRecording } from '../../src/lib/recording/verify.js';
import type { RecordingPart, SessionRecord, Store } from '../../src/lib/store/types.js';
import { waitFor } from '../helpers/proc.js';
import { sessionRow } from '../helpers/sessions.js';

/** One storage set up on fresh, empty directories and a fresh, migrated session index. */
export interface RecordingStorageSetup {
  /** This daemon's storage (its `dir` need not exist yet) and the session index it consults. */
  storage: RecordingStorage;
  store: Store;
  /** This daemon after a restart or a crash: a new storage on the same directory and store, nothing kept in memory. */
  restart(): RecordingStorage;
  /** Shared storages only: another daemon's storage, with its own directory and connections, on the same database. */
  peer?(): RecordingStorage;
  /** Closes the stores and removes the directories (the suite has stopped every storage by then). */
  close(): Promise<void>;
}

export interface RecordingStorageTraits {
  /**
   * Recordings go to shared storage: the local directory is a spool emptied once a session has
   * ended and is shipped, and other daemons (`peer`) read them. Otherwise they stay where written.
   */
  shared: boolean;
}

const PARTS: readonly RecordingPart[] = ['cast', 'chain', 'sig', 'bin'];
const NS = 'tollgate-recording';

function makeSigner(): RecordingSigner {
  const k = generateEd25519();
  return {
    publicBlob: k.publicBlob,
    identity: 'tollgate-recording@contract',
    namespace: NS,
    sign: (m) => crypto.sign(null, m, k.privateKey),
    signSshsig: (h, ns = NS) => signSshsig(k.privateKey, k.publicBlob, ns, h, 'sha256'),
  };
}

/** An open session's index row with this id (as the recorder writes it at start). */
function openRow(id: string): SessionRecord {
  return sessionRow('joe', 1_700_000_000_000, {
    id,
    login: 'root',
    node: '127.0.0.1:22',
    endedAt: null,
    exitStatus: null,
    bytesIn: 0,
    bytesOut: 0,
    recording: `${id}.cast`,
    endReason: null,
    serverId: 'daemon-a',
  });
}

function endRow(store: Store, id: string): Promise<void> {
  return store.endSession(id, { endedAt: 1_700_000_060_000, exitStatus: 0, exitSignal: null, bytesIn: 0, bytesOut: 0, sha256In: null, sha256Out: null, endReason: 'exit', recordingBytes: null, recordingChain: null });
}

async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as string));
  return Buffer.concat(chunks);
}

/** A part as a reader of the storage gets it, or null. */
async function readPart(storage: RecordingStorage, id: string, part: RecordingPart): Promise<Buffer | null> {
  const stream = await storage.open(id, part);
  return stream ? readAll(stream) : null;
}

/** What the recorder left in the local directory, part by part. */
function localFiles(storage: RecordingStorage, id: string): Record<RecordingPart, Buffer | null> {
  const read = (part: RecordingPart) => (fs.existsSync(storage.localPath(id, part)) ? fs.readFileSync(storage.localPath(id, part)) : null);
  return { cast: read('cast'), chain: read('chain'), sig: read('sig'), bin: read('bin') };
}

const BINARY = Buffer.from(Array.from({ length: 5000 }, (_, i) => (i * 131 + 7) & 0xff));
const HEADER = `${JSON.stringify({ version: 2, width: 80, height: 24, timestamp: 1_700_000_000 })}\n`;
const event = (t: number, text: string) => `${JSON.stringify([t, 'o', text])}\n`;

/**
 * The one behaviour suite every recording storage passes (the data dir, and the spool shipped to
 * PostgreSQL): what the recorder, the web API (stream, integrity, HTML export) and the admin API
 * (verify) rely on. `setup` returns a fresh storage; `traits` says which extra promises it makes.
 */
export function testRecordingStorage(name: string, setup: () => Promise<RecordingStorageSetup>, traits: RecordingStorageTraits): void {
  const signer = makeSigner();

  /** Runs `body` with a fresh setup; every storage it hands out is stopped afterwards, even on failure. */
  const withStorage = async (body: (s: RecordingStorageSetup & { readers(): RecordingStorage[] }) => Promise<void>): Promise<void> => {
    const base = await setup();
    const made: RecordingStorage[] = [base.storage];
    const track = (st: RecordingStorage) => (made.push(st), st);
    let peer: RecordingStorage | undefined;
    const s = {
      ...base,
      restart: () => track(base.restart()),
      ...(base.peer ? { peer: () => track(base.peer!()) } : {}),
      /** Every daemon that reads this storage's recordings: this one, and with shared storage another. */
      readers: () => {
        if (traits.shared && !peer) peer = track(base.peer!());
        return peer ? [base.storage, peer] : [base.storage];
      },
    };
    if (traits.shared) expect(base.peer, 'a shared storage setup must offer peer()').toBeDefined();
    try {
      await body(s);
    } finally {
      for (const st of made) await st.stop();
      await base.close();
    }
  };

  const recorder = (s: RecordingStorageSetup) =>
    new RecordingService({ store: s.store, storage: s.storage, serverId: 'daemon-a', auditor: createAuditor({ append: (e) => s.store.appendEvent(e), clock: systemClock, log: nullLogger }), clock: systemClock, maxExecRecordingSize: 0, recordInput: false, signer, checkpointIntervalMs: 100 });

  /** Records one whole session through the recorder, as the proxy does; returns its id. */
  const recordSession = async (s: RecordingStorageSetup): Promise<string> => {
    const service = recorder(s);
    const rec = await service.start({ user: 'joe', login: 'root', node: '127.0.0.1:22', clientAddr: '127.0.0.1', kind: 'shell', command: null, pty: true, cols: 80, rows: 24 });
    for (let i = 1; i <= 200; i++) rec.output(Buffer.from(`line ${i}: caf\u00e9 \u20ac ${'x'.repeat(i % 50)}\r\n`));
    rec.resize(100, 30);
    rec.output(Buffer.from([0xe2, 0x82])); // a character split across reads
    rec.output(Buffer.from([0xac, 0x0a]));
    rec.output(BINARY); // not UTF-8: to the .bin, behind a marker
    rec.output(Buffer.alloc(10_000)); // NULs: binary too, and deflated
    await rec.end({ exitStatus: 0, exitSignal: null, reason: 'exit' });
    await service.close();
    return rec.id;
  };

  /** Starts a running session's files by hand, so a test decides exactly which bytes are on disk. */
  const startByHand = async (s: RecordingStorageSetup): Promise<string> => {
    const id = crypto.randomUUID();
    await s.store.createSession(openRow(id));
    fs.mkdirSync(s.storage.dir, { recursive: true, mode: 0o700 });
    return id;
  };

  describe(`recording storage contract: ${name}`, () => {
    it('a recording made by the recorder reads back byte-identical: cast, chain and sig, streamed and as local files that verify', async () => {
      await withStorage(async (s) => {
        const id = await recordSession(s);
        const written = localFiles(s.storage, id);
        expect(written.cast?.toString('utf8')).toContain('line 200');
        expect(written.chain).not.toBeNull();
        expect(written.bin).not.toBeNull();
        expect(written.sig?.toString('utf8')).toContain('BEGIN SSH SIGNATURE');
        await s.storage.flush();

        const row = (await s.store.getSession(id))!;
        for (const reader of s.readers()) {
          for (const part of PARTS) expect((await readPart(reader, id, part))?.equals(written[part]!), `${part} via ${reader.dir}`).toBe(true);
          const local = await reader.materialize(id);
          expect(local).not.toBeNull();
          try {
            expect(fs.readFileSync(local!.castFile).equals(written.cast!)).toBe(true);
            expect(fs.readFileSync(`${local!.castFile}.bin`).equals(written.bin!)).toBe(true);
            const v = await verifyRecording({ castFile: local!.castFile, session: id, publicBlob: signer.publicBlob, namespace: NS, expectIntegrity: true, sealed: sealedOf(row) });
            expect(v.verdict, v.summary).toBe('verified');
            expect(v.signature).toBe(true);
          } finally {
            local!.cleanup();
          }
        }
        // The embedded default keeps recordings where they were written; a spool is emptied.
        expect(fs.existsSync(s.storage.localPath(id))).toBe(!traits.shared);
      });
    });

    it('after stop(), the same daemon restarted (nothing in memory) reads the recording whole', async () => {
      await withStorage(async (s) => {
        const id = await recordSession(s);
        const written = localFiles(s.storage, id);
        await s.storage.stop(); // ships what is pending: no flush() first
        const again = s.restart();
        for (const part of PARTS) expect((await readPart(again, id, part))?.equals(written[part]!), part).toBe(true);
      });
    });

    it('a running recording reads as its whole lines: a half-written line is never visible; finished, it is', async () => {
      await withStorage(async (s) => {
        const id = await startByHand(s);
        const cast = s.storage.localPath(id);
        const chain = s.storage.localPath(id, 'chain');
        const e1 = event(0.5, 'caf\u00e9 \u20ac\r\n');
        const e2 = Buffer.from(event(1.25, 'second \u20ac'));
        // The writer stopped in the middle of e2, inside its three-byte euro sign.
        const cut = e2.indexOf(0xe2) + 1;
        fs.writeFileSync(cast, Buffer.concat([Buffer.from(HEADER + e1), e2.subarray(0, cut)]));
        fs.writeFileSync(chain, '{"tollgate_chain":2}\n{"h":["0000');
        await s.storage.flush();
        for (const reader of s.readers()) {
          expect((await readPart(reader, id, 'cast'))?.toString('utf8')).toBe(HEADER + e1);
          expect((await readPart(reader, id, 'chain'))?.toString('utf8')).toBe('{"tollgate_chain":2}\n');
          expect(await readPart(reader, id, 'sig')).toBeNull();
        }

        fs.appendFileSync(cast, e2.subarray(cut));
        fs.appendFileSync(chain, '0000"]}\n');
        await s.storage.flush();
        for (const reader of s.readers()) {
          expect((await readPart(reader, id, 'cast'))?.toString('utf8')).toBe(HEADER + e1 + e2.toString('utf8'));
          expect((await readPart(reader, id, 'chain'))?.toString('utf8')).toBe('{"tollgate_chain":2}\n{"h":["00000000"]}\n');
        }

        // Ended with its last line cut short (a crash): nothing can change any more, so all of it is served.
        fs.appendFileSync(cast, '[2.5,"o","cut sh');
        await endRow(s.store, id);
        await s.storage.flush();
        for (const reader of s.readers()) {
          expect((await readPart(reader, id, 'cast'))?.toString('utf8')).toBe(`${HEADER}${e1}${e2.toString('utf8')}[2.5,"o","cut sh`);
        }
      });
    });

    it('a running recording read mid-session through the recorder is a whole-line prefix of the final one', async () => {
      await withStorage(async (s) => {
        const service = recorder(s);
        const rec = await service.start({ user: 'joe', login: 'root', node: '127.0.0.1:22', clientAddr: '127.0.0.1', kind: 'exec', command: 'yes', pty: false, cols: 80, rows: 24 });
        for (let i = 0; i < 100; i++) rec.output(Buffer.from(`early ${i}\n`));
        // The writer flushes on its own (every 250 ms); wait until this daemon can read the lines.
        let early: Buffer = Buffer.alloc(0);
        await waitFor(async () => {
          await s.storage.flush();
          early = (await readPart(s.readers().at(-1)!, rec.id, 'cast')) ?? Buffer.alloc(0);
          return early.toString('utf8').includes('early 99');
        }, 'the running recording to be readable');
        expect(early.at(-1)).toBe(0x0a);
        for (let i = 0; i < 100; i++) rec.output(Buffer.from(`late ${i}\n`));
        await rec.end({ exitStatus: 0, exitSignal: null, reason: 'exit' });
        await service.close();
        const final = localFiles(s.storage, rec.id).cast!;
        expect(final.subarray(0, early.length).equals(early)).toBe(true);
        expect(final.length).toBeGreaterThan(early.length);
      });
    });

    it('a recording that does not exist: open and materialize say so with null; an id that is not a UUID is a bad parameter', async () => {
      await withStorage(async (s) => {
        const missing = crypto.randomUUID();
        for (const reader of s.readers()) {
          for (const part of PARTS) expect(await reader.open(missing, part)).toBeNull();
          expect(await reader.materialize(missing)).toBeNull();
        }
        for (const bad of ['../../etc/passwd', '', 'ABC', `${missing}/..`]) {
          await expect(s.storage.open(bad, 'cast')).rejects.toMatchObject({ kind: 'bad-parameter' });
          await expect(s.storage.materialize(bad)).rejects.toMatchObject({ kind: 'bad-parameter' });
          expect(() => s.storage.localPath(bad)).toThrow(/invalid session id/);
        }
        // A recording that has no signature yet: that part alone is missing.
        const id = await startByHand(s);
        fs.writeFileSync(s.storage.localPath(id), HEADER);
        await s.storage.flush();
        for (const reader of s.readers()) {
          expect(await readPart(reader, id, 'cast')).not.toBeNull();
          expect(await reader.open(id, 'sig')).toBeNull();
        }
      });
    });

    if (!traits.shared) return;

    it('shared: the spool copy stays while the session runs and is removed once it has ended and is shipped', async () => {
      await withStorage(async (s) => {
        const id = await startByHand(s);
        fs.writeFileSync(s.storage.localPath(id), HEADER + event(0.1, 'a'));
        fs.writeFileSync(s.storage.localPath(id, 'chain'), '{"tollgate_chain":2}\n');
        await s.storage.flush();
        expect(fs.existsSync(s.storage.localPath(id))).toBe(true);
        fs.appendFileSync(s.storage.localPath(id), event(0.2, 'b'));
        fs.writeFileSync(s.storage.localPath(id, 'sig'), '-----BEGIN SSH SIGNATURE-----\nxyz\n-----END SSH SIGNATURE-----\n');
        await endRow(s.store, id);
        await s.storage.flush();
        for (const part of PARTS) expect(fs.existsSync(s.storage.localPath(id, part)), part).toBe(false);
        const peer = s.peer!();
        expect((await readPart(peer, id, 'cast'))?.toString('utf8')).toBe(HEADER + event(0.1, 'a') + event(0.2, 'b'));
        expect((await readPart(s.storage, id, 'sig'))?.toString('utf8')).toContain('xyz');
      });
    });

    it('shared: daemon B reads daemon A\'s recording while it runs and after it ended, shipped in many pieces', async () => {
      await withStorage(async (s) => {
        const id = await startByHand(s);
        const b = s.peer!();
        const file = s.storage.localPath(id);
        let expected = HEADER;
        fs.writeFileSync(file, HEADER);
        // One ship per round: more pieces than a reader fetches in one page.
        for (let i = 1; i <= 30; i++) {
          const line = event(i / 10, `round ${i} ${'\u00e9'.repeat(i)}`);
          expected += line;
          fs.appendFileSync(file, line);
          await s.storage.flush();
          if (i % 10 === 0) expect((await readPart(b, id, 'cast'))?.toString('utf8')).toBe(expected);
        }
        await endRow(s.store, id);
        await s.storage.flush();
        expect((await readPart(b, id, 'cast'))?.toString('utf8')).toBe(expected);
        const local = await b.materialize(id);
        try {
          expect(fs.readFileSync(local!.castFile, 'utf8')).toBe(expected);
        } finally {
          local!.cleanup();
        }
        expect(fs.existsSync(b.dir) ? fs.readdirSync(b.dir) : [], 'B reads without spooling A\'s recording').toEqual([]);
      });
    });

    it('shared: shipping again after a crash (mid-ship, nothing remembered) stores every byte exactly once', async () => {
      await withStorage(async (s) => {
        const id = await startByHand(s);
        const file = s.storage.localPath(id);
        const l1 = HEADER + event(0.1, 'one');
        fs.writeFileSync(file, l1);
        await s.storage.flush();
        // The crashed daemon had stored the next piece but died before noting that it had.
        const l2 = event(0.2, 'two');
        fs.appendFileSync(file, l2);
        await s.store.appendRecordingChunk(id, 'cast', Buffer.byteLength(l1), Buffer.from(l2));
        const restarted = s.restart();
        const l3 = event(0.3, 'three');
        fs.appendFileSync(file, l3);
        await restarted.flush();
        await restarted.flush();
        await endRow(s.store, id);
        await Promise.all([restarted.flush(), restarted.flush()]);
        await restarted.flush();
        expect(fs.existsSync(file)).toBe(false);
        expect(await s.store.recordingPartSize(id, 'cast')).toBe(Buffer.byteLength(l1 + l2 + l3));
        expect((await readPart(s.peer!(), id, 'cast'))?.toString('utf8')).toBe(l1 + l2 + l3);
      });
    });

    it('shared: started, it ships on its own, without flush()', async () => {
      await withStorage(async (s) => {
        s.storage.start();
        const id = await recordSession(s);
        const cast = localFiles(s.storage, id).cast!;
        const b = s.peer!();
        await waitFor(async () => (await readPart(b, id, 'cast'))?.equals(cast) === true, 'B to read the recording A shipped in the background', 15_000);
        await waitFor(() => !fs.existsSync(s.storage.localPath(id)), 'the spool copy to be removed', 15_000);
      });
    });
  });
}
