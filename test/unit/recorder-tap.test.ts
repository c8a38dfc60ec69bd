import fs from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { recorderTap } from '../../src/lib/proxy/session/index.js';
import { sessionFixture, type SessionFixture } from '../helpers/session-fixture.js';

describe('the recorder as a session tap (real recording service and store, no SSH)', () => {
  let f: SessionFixture;
  beforeAll(async () => {
    f = await sessionFixture({ recordInput: true });
  });
  afterAll(() => f.close());

  const meta = { user: 'joe', login: 'root', node: 'node1:22', clientAddr: '127.0.0.1', kind: 'shell' as const, command: null, pty: true, cols: 80, rows: 24 };

  it('writes output, input and resizes to the .cast and the end to the session index', async () => {
    const rec = await f.recordings.start(meta);
    const tap = recorderTap(rec);
    expect(tap.write({ type: 'output', data: Buffer.from('$ ') })).toBe(true);
    tap.write({ type: 'input', data: Buffer.from('ls\r') });
    tap.write({ type: 'resize', cols: 120, rows: 40 });
    tap.write({ type: 'output', data: Buffer.from('file1\r\n') });
    tap.write({ type: 'exit', status: 0, signal: null });
    await tap.close({ exitStatus: 0, exitSignal: null, reason: 'exit' });

    const lines = fs.readFileSync(f.recordings.pathFor(rec.id), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as unknown);
    expect(lines[0]).toMatchObject({ version: 2, width: 80, height: 24 });
    expect(lines.slice(1).map((e) => (e as unknown[]).slice(1))).toEqual([
      ['o', '$ '],
      ['i', 'ls\r'],
      ['r', '120x40'],
      ['o', 'file1\r\n'],
    ]);
    const s = await f.store.getSession(rec.id);
    expect(s).toMatchObject({ exitStatus: 0, endReason: 'exit', bytesOut: 9, bytesIn: 3 });
    expect(fs.existsSync(`${f.recordings.pathFor(rec.id)}.sig`)).toBe(true);
  });

  it('passes the recording\'s backpressure to the relay: false while the disk is behind, then drained', async () => {
    const rec = await f.recordings.start(meta);
    const tap = recorderTap(rec);
    let sawBehind = false;
    for (let i = 0; i < 64 && !sawBehind; i++) sawBehind = !tap.write({ type: 'output', data: Buffer.alloc(1024 * 1024, 0x61) });
    expect(sawBehind).toBe(true);
    await new Promise<void>((resolve) => tap.onceDrained(resolve));
    await tap.close({ exitStatus: 0, exitSignal: null, reason: 'exit' });
  });
});
