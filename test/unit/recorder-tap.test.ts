import fs from 'node:fs';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { recorderTap } from '../../src/lib/proxy/session/index.js';
import { sessionFixture, type SessionFixture } from '../helpers/session-fixture.js';
import { WireWriter } from '../../src/lib/wire/index.js';

function sftpPacket(type: number, build: (w: WireWriter) => WireWriter): Buffer {
  const body = build(new WireWriter().uint8(type)).toBuffer();
  return Buffer.concat([new WireWriter().uint32(body.length).toBuffer(), body]);
}

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
  it('on an sftp channel, records the bytes as before plus each file operation as a marker and an sftp audit event', async () => {
    const rec = await f.recordings.start({ ...meta, kind: 'sftp', command: 'subsystem:sftp', pty: false });
    const tap = recorderTap(rec, { auditor: f.auth.auditor });
    const requests = Buffer.concat([
      sftpPacket(1, (w) => w.uint32(3)),
      sftpPacket(3, (w) => w.uint32(1).string('/tmp/up').uint32(0x1a).uint32(0)),
      sftpPacket(6, (w) => w.uint32(2).string('H').uint64(0n).string(Buffer.alloc(5000, 0x41))),
      sftpPacket(4, (w) => w.uint32(3).string('H')),
      sftpPacket(200, (w) => w.uint32(4).string('posix-rename@openssh.com').string('/tmp/up').string('/tmp/done')),
    ]);
    const replies = Buffer.concat([
      sftpPacket(2, (w) => w.uint32(3)),
      sftpPacket(102, (w) => w.uint32(1).string('H')),
      sftpPacket(101, (w) => w.uint32(2).uint32(0).string('').string('')),
      sftpPacket(101, (w) => w.uint32(3).uint32(0).string('').string('')),
      sftpPacket(101, (w) => w.uint32(4).uint32(4).string('Failure').string('')),
    ]);
    // Requests arrive in two chunks, replies in three, cut mid-packet.
    tap.write({ type: 'input', data: requests.subarray(0, 40) });
    tap.write({ type: 'input', data: requests.subarray(40) });
    tap.write({ type: 'output', data: replies.subarray(0, 11) });
    tap.write({ type: 'output', data: replies.subarray(11, 30) });
    tap.write({ type: 'output', data: replies.subarray(30) });
    await tap.close({ exitStatus: 0, exitSignal: null, reason: 'exit' });

    const events = fs.readFileSync(f.recordings.pathFor(rec.id), 'utf8').trim().split('\n').slice(1).map((l) => JSON.parse(l) as [number, string, string]);
    // The SFTP bytes themselves are binary: they are kept beside the .cast behind "binary ..." markers.
    expect(events.filter((e) => e[1] === 'm' && e[2].startsWith('sftp ')).map((e) => e[2])).toEqual([
      'sftp open /tmp/up (write,create,trunc)',
      'sftp write /tmp/up 5000 bytes',
      'sftp close /tmp/up',
      'sftp rename /tmp/up -> /tmp/done failed: Failure',
    ]);
    expect(await f.store.getSession(rec.id)).toMatchObject({ bytesIn: requests.length, bytesOut: replies.length });
    // Audit events are emitted (not awaited) from the relay's turn: wait for the four.
    const audit = await vi.waitFor(async () => {
      const rows = (await f.store.listEvents({ types: ['sftp'], limit: 100 })).filter((e) => e.fields.sid === rec.id);
      expect(rows).toHaveLength(4);
      return rows;
    });
    // Same-millisecond events (a fake clock) have no order in the store: compare as a set.
    expect(audit.map((e) => ({ user: e.user, ...e.fields }))).toEqual(expect.arrayContaining([
      { user: 'joe', sid: rec.id, login: 'root', node: 'node1:22', op: 'open', path: '/tmp/up', flags: 'write,create,trunc', result: 'success' },
      { user: 'joe', sid: rec.id, login: 'root', node: 'node1:22', op: 'write', path: '/tmp/up', bytes: 5000, result: 'success' },
      { user: 'joe', sid: rec.id, login: 'root', node: 'node1:22', op: 'close', path: '/tmp/up', result: 'success' },
      { user: 'joe', sid: rec.id, login: 'root', node: 'node1:22', op: 'rename', path: '/tmp/up', target: '/tmp/done', result: 'failure', error: 'Failure' },
    ]));
  });

  it('on an sftp channel that is not SFTP, records the bytes and one marker saying the events stopped', async () => {
    const rec = await f.recordings.start({ ...meta, kind: 'sftp', command: 'subsystem:sftp', pty: false });
    const tap = recorderTap(rec, { auditor: f.auth.auditor });
    tap.write({ type: 'output', data: Buffer.from('this is not sftp\r\n') });
    tap.write({ type: 'output', data: Buffer.from('nor is this\r\n') });
    await tap.close({ exitStatus: 0, exitSignal: null, reason: 'exit' });
    const events = fs.readFileSync(f.recordings.pathFor(rec.id), 'utf8').trim().split('\n').slice(1).map((l) => JSON.parse(l) as [number, string, string]);
    expect(events.filter((e) => e[1] === 'm').map((e) => e[2])).toEqual(['sftp events stopped: a packet of 1952999795 bytes is not SFTP']);
    expect(events.filter((e) => e[1] === 'o').map((e) => e[2]).join('')).toBe('this is not sftp\r\nnor is this\r\n');
  });
});
