import { describe, expect, it } from 'vitest';
import { fileEventLabel, SftpParser, type SftpFileEvent } from '../../src/lib/sftp/index.js';
import { WireWriter } from '../../src/lib/wire/index.js';

// Hand-built SFTP v3 packets (draft-ietf-secsh-filexfer-02; layouts in src/lib/sftp/packets.ts).
function packet(type: number, build: (w: WireWriter) => WireWriter): Buffer {
  const body = build(new WireWriter().uint8(type)).toBuffer();
  return Buffer.concat([new WireWriter().uint32(body.length).toBuffer(), body]);
}
const init = () => packet(1, (w) => w.uint32(3));
const version = (v = 3) => packet(2, (w) => w.uint32(v).string('posix-rename@openssh.com').string('1'));
const open = (id: number, path: string, pflags: number) => packet(3, (w) => w.uint32(id).string(path).uint32(pflags).uint32(0));
const close = (id: number, h: string) => packet(4, (w) => w.uint32(id).string(h));
const read = (id: number, h: string, off: number, len: number) => packet(5, (w) => w.uint32(id).string(h).uint64(BigInt(off)).uint32(len));
const write = (id: number, h: string, off: number, data: Buffer) => packet(6, (w) => w.uint32(id).string(h).uint64(BigInt(off)).string(data));
const fsetstat = (id: number, h: string) => packet(10, (w) => w.uint32(id).string(h).uint32(0x4 | 0x8).uint32(0o100644).uint32(1).uint32(2));
const remove = (id: number, p: string) => packet(13, (w) => w.uint32(id).string(p));
const mkdir = (id: number, p: string) => packet(14, (w) => w.uint32(id).string(p).uint32(0x4).uint32(0o755));
const rmdir = (id: number, p: string) => packet(15, (w) => w.uint32(id).string(p));
const rename = (id: number, a: string, b: string) => packet(18, (w) => w.uint32(id).string(a).string(b));
const symlink = (id: number, target: string, link: string) => packet(20, (w) => w.uint32(id).string(target).string(link));
const posixRename = (id: number, a: string, b: string) => packet(200, (w) => w.uint32(id).string('posix-rename@openssh.com').string(a).string(b));
const stat = (id: number, p: string) => packet(17, (w) => w.uint32(id).string(p));
const status = (id: number, code = 0, msg = '') => packet(101, (w) => w.uint32(id).uint32(code).string(msg).string(''));
const handle = (id: number, h: string) => packet(102, (w) => w.uint32(id).string(h));
const data = (id: number, d: Buffer) => packet(103, (w) => w.uint32(id).string(d));
const attrs = (id: number) => packet(105, (w) => w.uint32(id).uint32(0x1).uint64(10n));

/** One exchange in the order it happens on the wire: requests (client) and replies (server). */
type Step = ['c' | 's', Buffer];
const session: Step[] = [
  ['c', init()],
  ['s', version()],
  // put: open for write, two writes (one refused), fsetstat, close
  ['c', open(1, '/tmp/up.bin', 0x02 | 0x08 | 0x10)],
  ['s', handle(1, 'H1')],
  ['c', write(2, 'H1', 0, Buffer.alloc(1000, 1))],
  ['c', write(3, 'H1', 1000, Buffer.alloc(24, 2))],
  ['s', status(2)],
  ['s', status(3)],
  ['c', fsetstat(4, 'H1')],
  ['s', status(4)],
  ['c', close(5, 'H1')],
  ['s', status(5)],
  // get: stat (ignored), open for read, reads to EOF, close
  ['c', stat(6, '/etc/motd')],
  ['s', attrs(6)],
  ['c', open(7, '/etc/motd', 0x01)],
  ['s', handle(7, 'H2')],
  ['c', read(8, 'H2', 0, 32768)],
  ['c', read(9, 'H2', 32768, 32768)],
  ['s', data(8, Buffer.alloc(300, 0x61))],
  ['s', status(9, 1, 'End of file')],
  ['c', close(10, 'H2')],
  ['s', status(10)],
  // refused open, metadata operations
  ['c', open(11, '/root/secret', 0x01)],
  ['s', status(11, 3, 'Permission denied')],
  ['c', rename(12, '/tmp/up.bin', '/tmp/moved.bin')],
  ['s', status(12)],
  ['c', posixRename(13, '/tmp/moved.bin', '/tmp/final bin')],
  ['s', status(13)],
  ['c', mkdir(14, '/tmp/d')],
  ['s', status(14)],
  ['c', rmdir(15, '/tmp/d')],
  ['s', status(15, 4, 'Failure')],
  ['c', symlink(16, '/tmp/final bin', '/tmp/link')],
  ['s', status(16)],
  ['c', remove(17, '/tmp/final bin')],
  ['s', status(17, 2, '')],
];

const expected: SftpFileEvent[] = [
  { op: 'open', path: '/tmp/up.bin', flags: ['write', 'create', 'trunc'], ok: true },
  { op: 'setstat', path: '/tmp/up.bin', attrs: 'mode 0644, atime 1, mtime 2', ok: true },
  { op: 'write', path: '/tmp/up.bin', bytes: 1024, ok: true },
  { op: 'close', path: '/tmp/up.bin', ok: true },
  { op: 'open', path: '/etc/motd', flags: ['read'], ok: true },
  { op: 'read', path: '/etc/motd', bytes: 300, ok: true },
  { op: 'close', path: '/etc/motd', ok: true },
  { op: 'open', path: '/root/secret', flags: ['read'], ok: false, error: 'Permission denied' },
  { op: 'rename', path: '/tmp/up.bin', target: '/tmp/moved.bin', ok: true },
  { op: 'rename', path: '/tmp/moved.bin', target: '/tmp/final bin', ok: true },
  { op: 'mkdir', path: '/tmp/d', ok: true },
  { op: 'rmdir', path: '/tmp/d', ok: false, error: 'Failure' },
  { op: 'symlink', path: '/tmp/link', target: '/tmp/final bin', ok: true },
  { op: 'remove', path: '/tmp/final bin', ok: false, error: 'no such file' },
];

function run(steps: Step[], chunk: (b: Buffer) => Buffer[], o: { maxPending?: number; maxHandles?: number } = {}) {
  const events: SftpFileEvent[] = [];
  const stops: string[] = [];
  const p = new SftpParser({ onEvent: (e) => events.push(e), onStop: (r) => stops.push(r), ...o });
  for (const [dir, bytes] of steps) for (const c of chunk(bytes)) (dir === 'c' ? p.fromClient(c) : p.fromServer(c));
  return { p, events, stops };
}

describe('the passive SFTP parser', () => {
  it('pairs requests with replies and reports file operations with their results', () => {
    const { events, stops } = run(session, (b) => [b]);
    expect(stops).toEqual([]);
    expect(events).toEqual(expected);
  });

  it('gives the same events when either direction is split at any byte boundary', () => {
    // Replies depend on requests having been seen, so the interleaving is kept packet by packet
    // while one direction's stream is cut in two at every offset.
    for (const dir of ['c', 's'] as const) {
      const total = session.filter(([d]) => d === dir).reduce((n, [, b]) => n + b.length, 0);
      for (let cut = 0; cut <= total; cut++) {
        let offset = 0;
        const split = session.flatMap(([d, b]): Step[] => {
          if (d !== dir) return [[d, b]];
          const start = offset;
          offset += b.length;
          if (cut <= start || cut >= start + b.length) return [[d, b]];
          return [[d, b.subarray(0, cut - start)], [d, b.subarray(cut - start)]];
        });
        const r = run(split, (b) => [b]);
        expect(r.stops).toEqual([]);
        expect(r.events).toEqual(expected);
      }
    }
  });

  it('gives the same events from whole streams cut anywhere, chunks spanning packets', () => {
    // All requests first, then all replies: the pairing does not depend on interleaving.
    const client = Buffer.concat(session.filter(([d]) => d === 'c').map(([, b]) => b));
    const server = Buffer.concat(session.filter(([d]) => d === 's').map(([, b]) => b));
    const cuts = (b: Buffer, at: number) => [b.subarray(0, at), b.subarray(at, at + 13), b.subarray(at + 13)];
    for (let at = 0; at <= Math.max(client.length, server.length); at++) {
      const r = run([['c', client], ['s', server]], (b) => cuts(b, at));
      expect(r.stops).toEqual([]);
      expect(r.events).toEqual(expected);
    }
  });

  it('gives the same events fed one byte at a time, and with empty chunks', () => {
    const { events } = run(session, (b) => [Buffer.alloc(0), ...[...b].map((x) => Buffer.from([x]))]);
    expect(events).toEqual(expected);
  });

  it('counts large WRITE and DATA payloads without buffering them', () => {
    const big = Buffer.alloc(4 * 1024 * 1024, 7);
    const steps: Step[] = [
      ['c', open(1, '/big', 0x02 | 0x08)],
      ['s', handle(1, 'h')],
      ['c', write(2, 'h', 0, big)],
      ['s', status(2)],
      ['c', read(3, 'h', 0, big.length)],
      ['s', data(3, big)],
      ['c', close(4, 'h')],
      ['s', status(4)],
    ];
    const { events, stops } = run(steps, (b) => Array.from({ length: Math.ceil(b.length / 32768) }, (_, i) => b.subarray(i * 32768, (i + 1) * 32768)));
    expect(stops).toEqual([]);
    expect(events.filter((e) => e.bytes !== undefined)).toEqual([
      { op: 'read', path: '/big', bytes: big.length, ok: true },
      { op: 'write', path: '/big', bytes: big.length, ok: true },
    ]);
  });

  it('reports a refused write at close, and files still open when the session ends', () => {
    const steps: Step[] = [
      ['c', open(1, '/full', 0x02)],
      ['s', handle(1, 'h')],
      ['c', write(2, 'h', 0, Buffer.alloc(10))],
      ['s', status(2, 4, 'No space left on device')],
      ['c', open(3, '/half', 0x01)],
      ['s', handle(3, 'g')],
      ['c', read(4, 'g', 0, 100)],
      ['s', data(4, Buffer.alloc(100))],
      ['c', close(5, 'h')],
      ['s', status(5)],
    ];
    const { p, events } = run(steps, (b) => [b]);
    p.end();
    expect(events.slice(2).map(fileEventLabel)).toEqual([
      'sftp write /full 0 bytes failed: No space left on device',
      'sftp close /full',
      'sftp read /half 100 bytes',
      'sftp close /half failed: still open when the session ended',
    ]);
  });

  it('keeps bounded state: the oldest unanswered request and the oldest open file are let go', () => {
    const steps: Step[] = [
      ['c', remove(1, '/a')],
      ['c', remove(2, '/b')],
      ['c', remove(3, '/c')],
      ['s', status(1)],
      ['s', status(2)],
      ['s', status(3)],
      ['c', open(4, '/x', 1)],
      ['s', handle(4, 'x')],
      ['c', open(5, '/y', 1)],
      ['s', handle(5, 'y')],
    ];
    const { events } = run(steps, (b) => [b], { maxPending: 2, maxHandles: 1 });
    expect(events.map(fileEventLabel)).toEqual([
      'sftp remove /b',
      'sftp remove /c',
      'sftp open /x (read)',
      'sftp read /x 0 bytes',
      'sftp close /x failed: no longer tracked: more than 1 files open',
      'sftp open /y (read)',
    ]);
  });

  it.each([
    ['a huge length', 'c', Buffer.from([0xff, 0xff, 0xff, 0xff, 3])],
    ['a zero length', 's', Buffer.from([0, 0, 0, 0, 0, 0, 0, 0])],
    ['an unknown type', 'c', Buffer.from([0, 0, 0, 5, 99, 0, 0, 0, 1])],
    ['a reply type from the client', 'c', status(1)],
    ['a truncated OPEN', 'c', packet(3, (w) => w.uint32(1).uint32(50).raw(Buffer.from('/short')))],
    ['a WRITE claiming more data than its packet', 'c', Buffer.concat([packet(6, (w) => w.uint32(1).string('h').uint64(0n).uint32(1000)), Buffer.alloc(10)])],
    ['an OPEN over the buffering limit', 'c', open(1, 'x'.repeat(300 * 1024), 1)],
    ['another SFTP version', 's', version(6)],
    ['text', 's', Buffer.from('SSH-2.0-OpenSSH_9.2\r\nthis is not sftp at all\r\n')],
  ])('stops once, without throwing, on %s', (_what, dir, bytes) => {
    const events: SftpFileEvent[] = [];
    const stops: string[] = [];
    const p = new SftpParser({ onEvent: (e) => events.push(e), onStop: (r) => stops.push(r) });
    const feed = (b: Buffer) => (dir === 'c' ? p.fromClient(b) : p.fromServer(b));
    feed(bytes);
    feed(bytes);
    p.fromClient(remove(7, '/after'));
    p.fromServer(status(7));
    p.end();
    expect(stops).toHaveLength(1);
    expect(p.stopped).toBe(stops[0]);
    expect(events).toEqual([]);
  });

  it('survives random garbage', () => {
    let seed = 42;
    const rnd = () => ((seed = (seed * 1103515245 + 12345) >>> 0) >>> 16) & 0xff;
    for (let i = 0; i < 200; i++) {
      const p = new SftpParser({ onEvent: () => undefined });
      const junk = Buffer.from(Array.from({ length: 64 + (i % 64) }, rnd));
      expect(() => {
        p.fromClient(junk);
        p.fromServer(junk);
        p.end();
      }).not.toThrow();
    }
  });

  it('labels events for a recording, quoting paths with spaces or control characters', () => {
    expect(fileEventLabel({ op: 'rename', path: '/a', target: '/b c', ok: true })).toBe('sftp rename /a -> "/b c"');
    expect(fileEventLabel({ op: 'open', path: '/x\u001b[2J', flags: ['read'], ok: false, error: 'bad\u001b' })).toBe('sftp open "/x\\u001b[2J" (read) failed: bad?');
  });
});
