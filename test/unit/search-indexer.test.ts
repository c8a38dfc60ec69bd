import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { Auditor } from '../../src/lib/audit/index.js';
import { createLogger, nullLogger } from '../../src/lib/log.js';
import { createOptionalTap } from '../../src/lib/proxy/session/index.js';
import { createSearchIndexer, PendingIndexWrites } from '../../src/lib/search/index.js';
import { createSqliteStore } from '../../src/lib/store/index.js';
import type { SessionLine } from '../../src/lib/store/types.js';
import { sessionRow } from '../helpers/sessions.js';

function fixture(kind: 'shell' | 'exec', pty: boolean, maxLines?: number) {
  const row = sessionRow('joe', 1_000_000, { kind, pty, login: 'root', node: 'node1:22' });
  const writes: SessionLine[][] = [];
  const events: Array<{ event: string; user: string | null; fields: Record<string, unknown> }> = [];
  const auditor: Auditor = {
    record: async () => {
      throw new Error('not used');
    },
    emit: (event, user, fields = {}) => void events.push({ event, user, fields }),
  };
  const store = { getSession: async () => row, indexSessionLines: async (_: string, lines: readonly SessionLine[]) => void writes.push([...lines]) };
  const indexer = createSearchIndexer({ sessionId: row.id, pty: pty ? { cols: 80, rows: 24 } : null, store, auditor, log: nullLogger, recordingStart: 5_000, maxLines });
  let clock = 5_000;
  const drops: string[] = [];
  const tap = createOptionalTap(indexer, { maxBufferedBytes: 8 << 20, onDrop: (r) => drops.push(r), now: () => clock });
  return { row, writes, events, tap, drops, at: (ms: number) => (clock = 5_000 + ms) };
}

describe('the search indexer as an optional tap', () => {
  it('a shell: lines at their offsets in few store writes, and a session.command event per command', async () => {
    const f = fixture('shell', true);
    f.at(100);
    f.tap.write({ type: 'output', data: Buffer.from('$ ') });
    f.at(1_000);
    for (const k of 'uptime\r') {
      f.tap.write({ type: 'input', data: Buffer.from(k) });
      f.tap.write({ type: 'output', data: Buffer.from(k === '\r' ? '\r\n' : k) });
    }
    f.at(1_200);
    for (let i = 0; i < 500; i++) f.tap.write({ type: 'output', data: Buffer.from(`load line ${i}\r\n`) });
    f.tap.write({ type: 'output', data: Buffer.from('$ ') });
    await f.tap.close({ exitStatus: 0, exitSignal: null, reason: 'exit' });
    const lines = f.writes.flat();
    expect(lines[0]).toEqual({ seq: 0, offsetMs: 100, text: '$ uptime' });
    expect(lines.find((l) => l.text === 'load line 499')).toMatchObject({ offsetMs: 1_200 });
    expect(lines.map((l) => l.seq)).toEqual(lines.map((_, i) => i));
    // Batched: 502 lines in a handful of writes, not one per line.
    expect(f.writes.length).toBeLessThanOrEqual(5);
    expect(f.events).toEqual([
      { event: 'session.command', user: 'joe', fields: { sid: f.row.id, login: 'root', node: 'node1:22', offset: '1s', offset_ms: 1_000, command: 'uptime' } },
    ]);
    expect(f.drops).toEqual([]);
  });

  it('a non-PTY exec: output and piped input as text lines; no command events', async () => {
    const f = fixture('exec', false);
    f.at(10);
    f.tap.write({ type: 'input', data: Buffer.from('print("piped")\n') });
    f.at(20);
    f.tap.write({ type: 'output', data: Buffer.from('piped\n') });
    await f.tap.close({ exitStatus: 0, exitSignal: null, reason: 'exit' });
    expect(f.writes.flat().map((l) => [l.offsetMs, l.text]).sort()).toEqual([[10, 'print("piped")'], [20, 'piped']]);
    expect(f.events).toEqual([]);
  });

  it('a bulk transfer is indexed up to the line cap in small writes, then no longer read', async () => {
    const f = fixture('exec', false, 1_000);
    // 4 MiB of `yes`, as 32 KiB packets.
    const packet = Buffer.from('y\n'.repeat(16 * 1024));
    for (let i = 0; i < 128; i++) f.tap.write({ type: 'output', data: packet });
    await f.tap.close({ exitStatus: 0, exitSignal: null, reason: 'exit' });
    expect(f.writes.flat()).toHaveLength(1_000);
    expect(Math.max(...f.writes.map((w) => w.length))).toBeLessThanOrEqual(16 * 1024);
    expect(f.drops).toEqual([]);
  });

  it('binary output of a non-PTY exec is not split into lines of noise; the text around it is indexed, split characters too', async () => {
    const f = fixture('exec', false);
    f.at(10);
    f.tap.write({ type: 'output', data: Buffer.from('before the archive\n') });
    // Random bytes hold 0x0a about every 256 bytes: 16 "lines" of noise each if read as text.
    const noise = Buffer.alloc(4096);
    for (let i = 0; i < noise.length; i++) noise[i] = (i * 7919 + 13) % 251 === 10 ? 10 : 0x80 | ((i * 31) & 0x3f);
    f.tap.write({ type: 'output', data: noise });
    f.tap.write({ type: 'output', data: Buffer.from([0x61, 0x00, 0x0a, 0x62, 0x0a]) });
    // A NUL next to text does not hide the text (a NUL-separated environment dump, say).
    f.tap.write({ type: 'output', data: Buffer.from('AWS_SECRET=abcdefghijklmnop\n\0PATH=/usr/local/bin:/usr/bin\0') });
    f.at(20);
    const e = Buffer.from('caf\u00e9 after\n');
    f.tap.write({ type: 'output', data: e.subarray(0, 4) });
    f.tap.write({ type: 'output', data: e.subarray(4) });
    await f.tap.close({ exitStatus: 0, exitSignal: null, reason: 'exit' });
    expect(f.writes.flat().map((l) => l.text)).toEqual(['before the archive', 'AWS_SECRET=abcdefghijklmnop', 'PATH=/usr/local/bin:/usr/bin', 'caf\u00e9 after']);
  });

  it('a store slower than the stream: lines are skipped while it is behind, the indexer is not dropped, and it indexes again once the store caught up', async () => {
    const row = sessionRow('joe', 1_000_000, { kind: 'exec', pty: false, login: 'root', node: 'node1:22' });
    const written: SessionLine[] = [];
    const held: Array<() => void> = [];
    let slow = true;
    const store = {
      getSession: async () => row,
      indexSessionLines: (_: string, lines: readonly SessionLine[]) =>
        new Promise<void>((resolve) => {
          const done = () => (written.push(...lines), resolve());
          if (slow) held.push(done);
          else done();
        }),
    };
    const indexer = createSearchIndexer({ sessionId: row.id, pty: null, store, log: nullLogger, recordingStart: 0 });
    const drops: string[] = [];
    const tap = createOptionalTap(indexer, { maxBufferedBytes: 1 << 20, onDrop: (r) => drops.push(r), now: () => 1 });
    const burst = (from: number) => Buffer.from(Array.from({ length: 1_000 }, (_, i) => `line ${from + i}\n`).join(''));
    for (let b = 0; b < 20; b++) {
      tap.write({ type: 'output', data: burst(b * 1_000) });
      await new Promise((r) => setImmediate(r));
    }
    // 20,000 lines arrived while nothing was written: reading went on, a bounded number is waiting.
    expect(drops).toEqual([]);
    expect(held.length).toBeGreaterThan(0);
    slow = false;
    for (const release of held.splice(0)) release();
    await new Promise((r) => setImmediate(r));
    tap.write({ type: 'output', data: Buffer.from('after the store caught up\n') });
    await tap.close({ exitStatus: 0, exitSignal: null, reason: 'exit' });
    expect(drops).toEqual([]);
    const texts = written.map((l) => l.text);
    expect(texts.length).toBeLessThan(20_001);
    expect(texts[0]).toBe('line 0');
    expect(texts.at(-1)).toBe('after the store caught up');
    expect(written.map((l) => l.seq)).toEqual(written.map((_, i) => i));
  });

  it('the session\'s end does not wait for the store: close() hands every line over and returns; settled() waits; a late failure is logged', async () => {
    const row = sessionRow('joe', 1_000_000, { kind: 'exec', pty: false, login: 'root', node: 'node1:22' });
    const held: Array<{ lines: readonly SessionLine[]; done: (err?: Error) => void }> = [];
    const store = {
      getSession: async () => row,
      indexSessionLines: (_: string, lines: readonly SessionLine[]) => new Promise<void>((resolve, reject) => held.push({ lines, done: (err) => (err ? reject(err) : resolve()) })),
    };
    const logged: string[] = [];
    const log = createLogger({ write: (line) => void logged.push(line) });
    const indexer = createSearchIndexer({ sessionId: row.id, pty: null, store, log, recordingStart: 0, batchLines: 10 });
    await indexer.deliver(
      Array.from({ length: 45 }, (_, i) => ({ type: 'output' as const, data: Buffer.from(`line ${i}\n`) })),
      Array.from({ length: 45 }, () => 1),
    );
    // Two writes in flight (the per-session bound); the other lines wait in the indexer.
    expect(held).toHaveLength(2);
    // Before the end, settled() does not pretend the lines are written.
    let early = false;
    void indexer.settled().then(
      () => (early = true),
      () => undefined,
    );
    await new Promise((r) => setImmediate(r));
    expect(early).toBe(false);
    let closed = false;
    void indexer.close({ reason: 'exit' }).then(() => (closed = true));
    await new Promise((r) => setImmediate(r));
    // Closed with both writes still held by the store: what waited was handed over at once.
    expect(closed).toBe(true);
    expect(held.flatMap((h) => h.lines.map((l) => l.text))).toEqual(Array.from({ length: 45 }, (_, i) => `line ${i}`));
    let settled = false;
    const done = indexer.settled().then(
      () => (settled = true),
      (err: Error) => err,
    );
    held[0]!.done();
    held[1]!.done();
    await new Promise((r) => setImmediate(r));
    expect(settled).toBe(false);
    held[2]!.done(new Error('disk I/O error'));
    expect(await done).toEqual(new Error('disk I/O error'));
    await new Promise((r) => setImmediate(r));
    // The lines of the failed write, not the session's.
    expect(logged.join('')).toMatch(/ERROR .*search index lines of this session could not be written.* lines=25 .*disk I\/O error/);
  });

  it('a daemon that stops right after a session ended writes its index lines before the store closes (PendingIndexWrites)', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tollgate-indexer-'));
    try {
      const store = await createSqliteStore(path.join(dir, 'tollgate.db'));
      await store.migrate();
      const row = sessionRow('joe', 1_000_000, { kind: 'exec', pty: false, login: 'root', node: 'node1:22' });
      await store.createSession(row);
      const logged: string[] = [];
      const pendingWrites = new PendingIndexWrites(createLogger({ write: (line) => void logged.push(line) }));
      const indexer = createSearchIndexer({ sessionId: row.id, pty: null, store, log: nullLogger, recordingStart: 0, pendingWrites });
      await indexer.deliver([{ type: 'output', data: Buffer.from(Array.from({ length: 3000 }, (_, i) => `line ${i} needle\n`).join('')) }], [1]);
      await indexer.close({ reason: 'exit' });
      // The shutdown's order: sessions end, index writes drain, the store closes.
      await pendingWrites.drain(5_000);
      expect(await store.searchSessions({ text: 'needle', limit: 10_000 })).toHaveLength(3000);
      await store.close();
      expect(logged).toEqual([]);
      // A write that never ends is waited for at most the time given, and said.
      const stuck = createSearchIndexer({ sessionId: row.id, pty: null, store: { getSession: async () => row, indexSessionLines: () => new Promise<void>(() => {}) }, log: nullLogger, recordingStart: 0, pendingWrites });
      await stuck.deliver([{ type: 'output', data: Buffer.from('one line\n') }], [1]);
      await stuck.close({ reason: 'exit' });
      await pendingWrites.drain(50);
      expect(logged.join('')).toMatch(/WARN .*stopping before the search index lines of ended sessions were written; any that are lost, tctl recordings reindex writes again.* sessions=1/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a write that fails after the last delivery is logged once at the end, with every line lost (the tail that was never handed over too)', async () => {
    const row = sessionRow('joe', 1_000_000, { kind: 'exec', pty: false, login: 'root', node: 'node1:22' });
    const logged: string[] = [];
    const log = createLogger({ write: (line) => void logged.push(line) });
    const store = { getSession: async () => row, indexSessionLines: () => new Promise<void>((_, reject) => setTimeout(() => reject(new Error('disk I/O error')), 5)) };
    const indexer = createSearchIndexer({ sessionId: row.id, pty: null, store, log, recordingStart: 0, batchLines: 10 });
    await indexer.deliver([{ type: 'output', data: Buffer.from(Array.from({ length: 10 }, (_, i) => `line ${i}\n`).join('')) }], [1]);
    await indexer.deliver([{ type: 'output', data: Buffer.from('tail 1\ntail 2\n') }], [2]);
    // The write fails with no delivery after it: the session just ends.
    await new Promise((r) => setTimeout(r, 30));
    await indexer.close({ reason: 'exit' });
    await expect(indexer.settled()).rejects.toThrow('disk I/O error');
    const errors = logged.filter((l) => l.includes('ERROR'));
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatch(/search index lines of this session could not be written.* lines=12 /);
  });

  it('the shutdown waits for an indexer still closing (its emulator slow to end), not only for writes already handed over', async () => {
    const row = sessionRow('joe', 1_000_000, { kind: 'shell', pty: true, login: 'root', node: 'node1:22' });
    const written: string[] = [];
    const store = { getSession: async () => row, indexSessionLines: async (_: string, lines: readonly SessionLine[]) => void written.push(...lines.map((l) => l.text)) };
    const pendingWrites = new PendingIndexWrites(nullLogger);
    let endScreen!: () => void;
    const indexer = createSearchIndexer({
      sessionId: row.id,
      pty: { cols: 80, rows: 24 },
      store,
      log: nullLogger,
      recordingStart: 0,
      pendingWrites,
      screens: (o) => ({
        output: (_d, t) => o.onLine({ text: 'last line', offsetMs: t }),
        input: () => undefined,
        resize: () => undefined,
        flush: async () => undefined,
        dispose: () => undefined,
        end: () => new Promise<void>((resolve) => (endScreen = resolve)),
      }),
    });
    await indexer.deliver([{ type: 'output', data: Buffer.from('x') }], [1]);
    // The session's end stopped waiting for this tap (its close timeout); the daemon then stops.
    void indexer.close({ reason: 'exit' });
    let drained = false;
    const drain = pendingWrites.drain(5_000).then(() => (drained = true));
    await new Promise((r) => setTimeout(r, 20));
    expect(drained).toBe(false);
    endScreen();
    await drain;
    expect(written).toEqual(['last line']);
  });

  it('a PTY session that is not a shell stops being emulated at the line cap (only a shell still needs its terminal, for the command log)', async () => {
    const outputs = { exec: 0, shell: 0 };
    for (const kind of ['exec', 'shell'] as const) {
      const row = sessionRow('joe', 1_000_000, { kind, pty: true, login: 'root', node: 'node1:22' });
      const auditor: Auditor = {
        record: async () => {
          throw new Error('not used');
        },
        emit: () => undefined,
      };
      const indexer = createSearchIndexer({
        sessionId: row.id,
        pty: { cols: 80, rows: 24 },
        store: { getSession: async () => row, indexSessionLines: async () => undefined },
        auditor,
        log: nullLogger,
        recordingStart: 0,
        maxLines: 10,
        screens: (o) => ({
          output: (data: Uint8Array | string, t: number) => {
            outputs[kind]++;
            // Every write shows a line, so the cap is reached after 10.
            o.onLine({ offsetMs: t, text: String(data) });
          },
          input: () => undefined,
          resize: () => undefined,
          flush: async () => undefined,
          end: async () => undefined,
          dispose: () => undefined,
        }),
      });
      for (let i = 0; i < 100; i++) await indexer.deliver([{ type: 'output', data: Buffer.from(`line ${i}`) }], [i]);
      await indexer.close({ reason: 'exit' });
    }
    expect(outputs.exec).toBe(11);
    expect(outputs.shell).toBe(100);
  });
});
