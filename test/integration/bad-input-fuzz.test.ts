import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import tls from 'node:tls';
import ssh2 from 'ssh2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_UNAUTHENTICATED, MAX_UNAUTHENTICATED_PER_SOURCE } from '../../src/lib/proxy/connection-limits.js';
import { LOGIN_GRACE_MS, MAX_AUTH_TRIES, VERSION_LINE_DEADLINE_MS } from '../../src/lib/proxy/proxy-server.js';
import { MAX_BODY_BYTES } from '../../src/lib/web/web-app.js';
import { HEADERS_TIMEOUT_MS, MAX_WEB_CONNECTIONS, MAX_WEB_CONNECTIONS_PER_SOURCE, REQUEST_TIMEOUT_MS, TLS_HANDSHAKE_TIMEOUT_MS } from '../../src/lib/web/web-server.js';
import { castEvents, sessions, startCluster, type Cluster } from '../helpers/cluster.js';
import { httpsRequest } from '../helpers/https.js';
import { ROOT, spawnBackground, tmpDir, waitFor, type Background } from '../helpers/proc.js';

/*
 * Issue (bad input): garbage at the SSH port (3023) and the HTTPS port (3080) while a real recorded
 * session runs. Random bytes, truncated and absurd SSH packets, huge banners and headers,
 * slowloris clients, oversized bodies, more unauthenticated connections than allowed. Whatever
 * arrives, the daemon stays up with bounded memory, drops what it must within its deadlines, and
 * loses nothing: the session's output and recording are whole and verify, and it serves after.
 *
 * The real limits are used (30 s login grace, 10 s TLS and header deadlines, 30 s request
 * deadline): the slow clients start first and everything else runs while they wait out their
 * deadlines, so the whole test takes a little over the login grace. Clients connect from several
 * loopback addresses (127.0.0.0/8 is all loopback on Linux) so per-source limits can be told apart
 * from the total; everything stays on this machine.
 */

const HOST = '127.0.0.1';
/** Deadlines are checked on a timer and the machine is busy: how late a drop may come. */
const LATE_MS = 5_000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Open file descriptors of `pid`. */
const fdCount = (pid: number) => fs.readdirSync(`/proc/${pid}/fd`).length;

/** Resident set size of `pid` in KiB (0 once it is gone). */
function rssKiB(pid: number): number {
  try {
    return Number(/^VmRSS:\s+(\d+) kB$/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0);
  } catch {
    return 0;
  }
}

// ---- SSH wire pieces (RFC 4253) ------------------------------------------------------------------

const u32 = (n: number) => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n >>> 0);
  return b;
};
const sshString = (s: string | Buffer) => Buffer.concat([u32(Buffer.byteLength(s)), Buffer.from(s)]);

/** RFC 4253 §6: uint32 packet_length, byte padding_length, payload, random padding (4..255, whole a multiple of 8). */
function sshPacket(payload: Buffer): Buffer {
  let pad = 8 - ((payload.length + 5) % 8);
  if (pad < 4) pad += 8;
  return Buffer.concat([u32(payload.length + 1 + pad), Buffer.from([pad]), payload, crypto.randomBytes(pad)]);
}

const CLIENT_BANNER = Buffer.from('SSH-2.0-fuzz_1.0\r\n');
const DEFAULT_ALGOS = [
  'curve25519-sha256,curve25519-sha256@libssh.org',
  'ssh-ed25519-cert-v01@openssh.com,ssh-ed25519,rsa-sha2-512,rsa-sha2-256,ecdsa-sha2-nistp256',
  'aes128-ctr,aes128-gcm@openssh.com,chacha20-poly1305@openssh.com',
  'aes128-ctr,aes128-gcm@openssh.com,chacha20-poly1305@openssh.com',
  'hmac-sha2-256',
  'hmac-sha2-256',
  'none',
  'none',
  '',
  '',
];

/** RFC 4253 §7.1: byte SSH_MSG_KEXINIT (20), byte[16] cookie, ten name-lists, boolean first_kex_packet_follows, uint32 0. */
function kexinit(lists: readonly (string | Buffer)[] = DEFAULT_ALGOS): Buffer {
  return Buffer.concat([Buffer.from([20]), crypto.randomBytes(16), ...lists.map(sshString), Buffer.from([0]), u32(0)]);
}

/** RFC 5656 §4 / RFC 8731: byte SSH_MSG_KEX_ECDH_INIT (30), string Q_C (32 bytes for curve25519). */
const ecdhInit = (q: Buffer = crypto.randomBytes(32)) => Buffer.concat([Buffer.from([30]), sshString(q)]);

/** What an SSH client sends before it hears back: banner, KEXINIT, ECDH_INIT. */
const validFlight = () => Buffer.concat([CLIENT_BANNER, sshPacket(kexinit()), sshPacket(ecdhInit())]);

/** Message numbers of the unencrypted packets after the server's banner line. */
function serverMessages(data: Buffer): number[] {
  const nl = data.indexOf('\n');
  const out: number[] = [];
  for (let p = nl + 1; p + 6 <= data.length; ) {
    const len = data.readUInt32BE(p);
    if (p + 4 + len > data.length) break;
    out.push(data[p + 5]!);
    p += 4 + len;
  }
  return out;
}

// ---- client connections, all tracked so every one is closed at the end ---------------------------

const everySocket = new Set<net.Socket>();

/** One client connection and what happened to it, timed from the connect call. */
class Conn {
  readonly started = Date.now();
  readonly chunks: Buffer[] = [];
  closedAfterMs: number | undefined;
  readonly closed: Promise<number>;

  constructor(readonly socket: net.Socket) {
    everySocket.add(socket);
    socket.on('data', (d: Buffer) => this.chunks.push(d));
    socket.on('error', () => {});
    this.closed = new Promise((resolve) =>
      socket.once('close', () => {
        everySocket.delete(socket);
        this.closedAfterMs = Date.now() - this.started;
        resolve(this.closedAfterMs);
      }),
    );
  }

  get data(): Buffer {
    return Buffer.concat(this.chunks);
  }

  get text(): string {
    return this.data.toString('latin1');
  }

  get isOpen(): boolean {
    return this.closedAfterMs === undefined;
  }

  /** Resolves with the ms from connect to close, or undefined when still open after `ms`. */
  async closedWithin(ms: number): Promise<number | undefined> {
    return Promise.race([this.closed, sleep(ms).then(() => undefined)]);
  }

  /** Writes one byte every `everyMs` until the bytes run out or the connection closes. */
  trickle(bytes: Buffer, everyMs = 1000): void {
    let i = 0;
    const t = setInterval(() => {
      if (!this.isOpen || i >= bytes.length) return clearInterval(t);
      this.socket.write(bytes.subarray(i, ++i));
    }, everyMs);
    void this.closed.then(() => clearInterval(t));
  }
}

const tcp = (port: number, from = HOST) => new Conn(net.connect({ port, host: HOST, localAddress: from }));
const tlsConn = (port: number) => new Conn(tls.connect({ port, host: HOST, rejectUnauthorized: false }));
const secured = (c: Conn) => new Promise<void>((resolve, reject) => (c.socket as tls.TLSSocket).once('secureConnect', resolve).once('close', () => reject(new Error('closed before the TLS handshake'))));

/** A real TLS ClientHello (from Node's own client) to replay byte by byte. */
async function clientHello(): Promise<Buffer> {
  const server = net.createServer();
  await new Promise<void>((r) => server.listen(0, HOST, r));
  const got = new Promise<Buffer>((resolve) => server.once('connection', (s) => s.once('data', (d: Buffer) => (s.destroy(), resolve(d)))));
  const client = tls.connect({ port: (server.address() as net.AddressInfo).port, host: HOST, rejectUnauthorized: false });
  client.on('error', () => {});
  const hello = await got;
  client.destroy();
  server.close();
  return hello;
}

/** Runs `fn` over `items`, `concurrency` at a time. */
async function pool<T>(items: readonly T[], concurrency: number, fn: (item: T, i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < items.length) {
        const i = next++;
        await fn(items[i]!, i);
      }
    }),
  );
}

/** A raw HTTP/1.1 exchange over TLS; the request should ask for `connection: close` (or be refused). */
async function rawHttps(port: number, request: string | Buffer): Promise<{ status: number; text: string; ms: number }> {
  const c = tlsConn(port);
  await secured(c);
  c.socket.write(request);
  const ms = await c.closedWithin(15_000);
  c.socket.destroy();
  return { status: Number(/^HTTP\/1\.1 (\d{3}) /.exec(c.text)?.[1] ?? 0), text: c.text, ms: ms ?? Infinity };
}

describe('fuzzing the SSH and HTTPS ports while a recorded session runs', () => {
  let c: Cluster;
  let work: string;
  const started: Background[] = [];
  let sampler: NodeJS.Timeout | undefined;

  beforeAll(async () => {
    c = await startCluster();
    work = tmpDir('tollgate-fuzz-');
  });
  afterAll(async () => {
    clearInterval(sampler);
    for (const s of everySocket) s.destroy();
    for (const b of started) await b.stop('SIGKILL');
    await c?.stop();
    if (work) fs.rmSync(work, { recursive: true, force: true });
  });

  it('the daemon stays up with bounded memory, drops bad clients within its limits, and loses nothing', async () => {
    const sshPort = c.sshPort;
    const webPort = c.daemon.webPort;
    const pid = c.daemon.process.child.pid!;
    const timings: Record<string, number> = {};
    const t0 = Date.now();
    const mark = (what: string) => (timings[what] = Date.now() - t0);

    // Warm up (first session, JIT) before the baseline, so only the fuzzing's growth is measured.
    expect((await c.tsh(['ssh', `--port=${c.sshd.port}`, 'root@127.0.0.1', 'echo warm'])).stdout).toBe('warm\n');
    const rssBefore = rssKiB(pid);
    const fdsBefore = fdCount(pid);
    let rssPeak = rssBefore;
    sampler = setInterval(() => (rssPeak = Math.max(rssPeak, rssKiB(pid))), 200);
    const logStart = c.daemon.process.output.length;

    // ---- the legitimate session: bulk output, then a line every 50 ms until the fuzzing is over ----
    const stopFile = path.join(work, 'stop');
    const command = `seq 1 100000; n=0; while [ ! -e ${stopFile} ]; do n=$((n+1)); echo "tick $n"; sleep 0.05; done; echo "end $n"`;
    const legit = spawnBackground(process.execPath, [path.join(ROOT, 'bin/tsh'), 'ssh', `--port=${c.sshd.port}`, 'root@127.0.0.1', command], { cwd: ROOT, env: c.env });
    started.push(legit);
    let out = '';
    let err = '';
    legit.child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    legit.child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    await waitFor(() => out.includes('tick 1\n'), 'the legitimate session to stream', 20_000);
    mark('session streaming');

    // ---- slow clients, started first: each must be dropped at its deadline, no later -------------
    const hello = await clientHello();
    const slowSource = '127.0.0.2';
    const slowSsh: Record<string, Conn> = {
      'silent after connect': tcp(sshPort, slowSource),
      'banner, a byte a second, no newline': tcp(sshPort, slowSource),
      'KEXINIT, a byte a second': tcp(sshPort, slowSource),
      'half a KEXINIT, then silence': tcp(sshPort, slowSource),
      'key exchange done, never authenticates': tcp(sshPort, slowSource),
    };
    slowSsh['banner, a byte a second, no newline']!.trickle(Buffer.from('SSH-2.0-slowloris-slowloris-slowloris-slowloris'));
    slowSsh['KEXINIT, a byte a second']!.socket.write(CLIENT_BANNER);
    slowSsh['KEXINIT, a byte a second']!.trickle(sshPacket(kexinit()));
    const kex = sshPacket(kexinit());
    slowSsh['half a KEXINIT, then silence']!.socket.write(Buffer.concat([CLIENT_BANNER, kex.subarray(0, kex.length >> 1)]));
    const noAuth = new ssh2.Client();
    let noAuthKex = false;
    noAuth.on('error', () => {});
    noAuth.on('handshake', () => (noAuthKex = true));
    noAuth.connect({ sock: slowSsh['key exchange done, never authenticates']!.socket, username: 'slow', authHandler: () => undefined as never, readyTimeout: 120_000 });

    const slowWeb: Record<string, { conn: Conn; deadline: number }> = {
      'TCP, silent': { conn: tcp(webPort), deadline: TLS_HANDSHAKE_TIMEOUT_MS },
      'ClientHello a byte a second': { conn: tcp(webPort), deadline: TLS_HANDSHAKE_TIMEOUT_MS },
      'ClientHello, never finishes the handshake': { conn: tcp(webPort), deadline: TLS_HANDSHAKE_TIMEOUT_MS },
      'a header line a second': { conn: tlsConn(webPort), deadline: HEADERS_TIMEOUT_MS },
      'a body byte a second': { conn: tlsConn(webPort), deadline: REQUEST_TIMEOUT_MS },
    };
    slowWeb['ClientHello a byte a second']!.conn.trickle(hello);
    slowWeb['ClientHello, never finishes the handshake']!.conn.socket.write(hello);
    const slowHeaders = slowWeb['a header line a second']!.conn;
    void secured(slowHeaders).then(() => {
      slowHeaders.socket.write('GET /webapi/ping HTTP/1.1\r\nhost: x\r\n');
      const t = setInterval(() => (slowHeaders.isOpen ? slowHeaders.socket.write(`x-slow-${Date.now()}: 1\r\n`) : clearInterval(t)), 1000);
    }, () => {});
    const slowBody = slowWeb['a body byte a second']!.conn;
    void secured(slowBody).then(() => {
      slowBody.socket.write('POST /webapi/ssh/certs HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 1000\r\n\r\n');
      slowBody.trickle(Buffer.alloc(1000, 0x20));
    }, () => {});
    mark('slow clients started');

    // ---- SSH: garbage of every kind; each must be closed at once -----------------------------------
    const sshGarbage = async () => {
      // A valid first flight gets a real answer (KEXINIT, then the ECDH reply), so the mutations
      // below start from a handshake the server takes seriously.
      const sane = tcp(sshPort, '127.0.1.1');
      sane.socket.write(validFlight());
      await waitFor(() => serverMessages(sane.data).includes(31), 'the KEX_ECDH_REPLY to a valid first flight', 10_000);
      sane.socket.destroy();

      const crafted: Record<string, Buffer> = {
        'huge banner (1 MiB, no newline)': Buffer.alloc(1 << 20, 'A'),
        'greeting lines before the banner': Buffer.from('hello\r\n'.repeat(10_000)),
        'SSH-1.5 banner': Buffer.from('SSH-1.5-old\r\n'),
        'banner without a software version': Buffer.from('SSH-2.0-\r\n'),
        'packet length 2^31': Buffer.concat([CLIENT_BANNER, u32(2 ** 31), crypto.randomBytes(64)]),
        'packet length 2^32-1': Buffer.concat([CLIENT_BANNER, u32(0xffffffff), crypto.randomBytes(64)]),
        'packet length 0': Buffer.concat([CLIENT_BANNER, u32(0), crypto.randomBytes(64)]),
        'padding longer than the packet': Buffer.concat([CLIENT_BANNER, u32(12), Buffer.from([200]), crypto.randomBytes(11)]),
        'name-list length 2^32-16': Buffer.concat([CLIENT_BANNER, sshPacket(Buffer.concat([Buffer.from([20]), crypto.randomBytes(16), u32(0xfffffff0), Buffer.alloc(64)]))]),
        'no algorithm in common': Buffer.concat([CLIENT_BANNER, sshPacket(kexinit(DEFAULT_ALGOS.map((a) => (a ? 'nonsense@fuzz' : ''))))]),
        'ECDH key of 0 bytes': Buffer.concat([CLIENT_BANNER, sshPacket(kexinit()), sshPacket(ecdhInit(Buffer.alloc(0)))]),
        'ECDH key of 31 bytes': Buffer.concat([CLIENT_BANNER, sshPacket(kexinit()), sshPacket(ecdhInit(crypto.randomBytes(31)))]),
        'ECDH key of 33 bytes': Buffer.concat([CLIENT_BANNER, sshPacket(kexinit()), sshPacket(ecdhInit(crypto.randomBytes(33)))]),
        'ECDH key all zero (low order point)': Buffer.concat([CLIENT_BANNER, sshPacket(kexinit()), sshPacket(ecdhInit(Buffer.alloc(32)))]),
        'two KEXINITs': Buffer.concat([CLIENT_BANNER, sshPacket(kexinit()), sshPacket(kexinit())]),
        'USERAUTH_REQUEST before key exchange': Buffer.concat([CLIENT_BANNER, sshPacket(Buffer.concat([Buffer.from([50]), sshString('root'), sshString('ssh-connection'), sshString('none')]))]),
        'CHANNEL_OPEN before key exchange': Buffer.concat([CLIENT_BANNER, sshPacket(Buffer.concat([Buffer.from([90]), sshString('session'), u32(0), u32(1 << 20), u32(32768)]))]),
        'DISCONNECT with a 30 KB reason': Buffer.concat([CLIENT_BANNER, sshPacket(Buffer.concat([Buffer.from([1]), u32(11), sshString('x'.repeat(30_000)), sshString('')]))]),
      };
      for (const [name, bytes] of Object.entries(crafted)) {
        const conn = tcp(sshPort, '127.0.1.2');
        conn.socket.write(bytes);
        expect(await conn.closedWithin(3_000), `SSH: ${name} is closed at once`).toBeDefined();
      }

      // The same truncated: the server waits for the rest, and the client leaves.
      const flight = validFlight();
      for (const cut of [1, CLIENT_BANNER.length - 1, CLIENT_BANNER.length + 3, CLIENT_BANNER.length + 40, flight.length - 20]) {
        const conn = tcp(sshPort, '127.0.1.3');
        conn.socket.end(flight.subarray(0, cut));
        expect(await conn.closedWithin(3_000), `SSH: first flight cut at ${cut} bytes then EOF`).toBeDefined();
      }

      // Random bytes, random bytes after a banner, and mutations of a valid first flight.
      const cases = Array.from({ length: 450 }, (_, i) => i);
      let stillOpen = 0;
      await pool(cases, 12, async (i) => {
        let bytes: Buffer;
        if (i < 150) bytes = crypto.randomBytes(1 + crypto.randomInt(16_384));
        else if (i < 250) bytes = Buffer.concat([CLIENT_BANNER, crypto.randomBytes(1 + crypto.randomInt(4096))]);
        else {
          bytes = validFlight();
          for (let k = 1 + crypto.randomInt(8); k > 0; k--) bytes[CLIENT_BANNER.length + crypto.randomInt(bytes.length - CLIENT_BANNER.length)] = crypto.randomInt(256);
          if (i % 3 === 0) bytes = bytes.subarray(0, CLIENT_BANNER.length + crypto.randomInt(bytes.length - CLIENT_BANNER.length));
        }
        const conn = tcp(sshPort, `127.0.2.${1 + (i % 50)}`);
        conn.socket.end(bytes);
        if ((await conn.closedWithin(5_000)) === undefined) stillOpen++;
        conn.socket.destroy();
      });
      expect(stillOpen, 'SSH: random and mutated first flights are all closed within 5 s').toBe(0);

      // Garbage in the encrypted stream, after a real key exchange.
      for (let i = 0; i < 5; i++) {
        const conn = tcp(sshPort, '127.0.1.4');
        const client = new ssh2.Client();
        client.on('error', () => {});
        client.on('handshake', () => conn.socket.write(crypto.randomBytes(64 + crypto.randomInt(8192))));
        client.connect({ sock: conn.socket, username: 'fuzz', authHandler: () => undefined as never, readyTimeout: 60_000 });
        expect(await conn.closedWithin(5_000), 'SSH: garbage after NEWKEYS is closed at once').toBeDefined();
      }
      mark('ssh garbage done');
    };

    // ---- SSH: authentication attempts per connection -----------------------------------------------
    const authLimits = async () => {
      for (const type of ['password', 'none'] as const) {
        const user = `fuzz-${type}-${crypto.randomBytes(3).toString('hex')}`;
        const conn = tcp(sshPort, '127.0.1.5');
        const client = new ssh2.Client();
        let tries = 0;
        client.on('error', () => {});
        client.connect({
          sock: conn.socket,
          username: user,
          readyTimeout: 60_000,
          authHandler: (_left: unknown, _partial: unknown, next: (m: unknown) => void) => {
            tries++;
            next(type === 'password' ? { type, username: user, password: `guess ${tries}` } : { type, username: user });
          },
        } as ssh2.ConnectConfig);
        expect(await conn.closedWithin(5_000), `SSH: endless ${type} attempts are cut off`).toBeDefined();
        // The first "none" is free (a client asking for methods), as in OpenSSH; then each counts.
        expect(tries).toBeLessThanOrEqual(MAX_AUTH_TRIES + (type === 'none' ? 2 : 1));
        if (type === 'password') {
          const events = JSON.parse((await c.daemon.tctl(['events', 'ls', '--type=auth', `--user=${user}`, '--format=json'])).stdout) as unknown[];
          expect(events, 'one audit event per failed attempt, no more').toHaveLength(MAX_AUTH_TRIES);
        }
      }
      // Meanwhile a new legitimate session works.
      const mid = await c.tsh(['ssh', `--port=${c.sshd.port}`, 'root@127.0.0.1', 'echo mid-fuzz']);
      expect(mid.stdout, mid.stderr).toBe('mid-fuzz\n');
      mark('ssh auth limits done');
    };

    // ---- SSH: unauthenticated connection caps --------------------------------------------------------
    const unauthenticatedCaps = async () => {
      /** Opens a connection and waits for the server's banner (admitted) or a close (refused). */
      const attempt = async (from: string) => {
        const conn = tcp(sshPort, from);
        await waitFor(() => conn.text.startsWith('SSH-2.0-tollgate') || !conn.isOpen, 'a banner or a close', 5_000);
        // A version line, then nothing: held until the login grace period, past the version deadline.
        if (conn.isOpen) conn.socket.write(CLIENT_BANNER);
        return { conn, admitted: conn.isOpen };
      };
      const held: Conn[] = [];
      // Per source: exactly the limit from one address; the next are refused at once, with no banner.
      for (let i = 0; i < MAX_UNAUTHENTICATED_PER_SOURCE; i++) {
        const a = await attempt('127.0.3.1');
        expect(a.admitted, `connection ${i + 1} from one source`).toBe(true);
        held.push(a.conn);
      }
      for (let i = 0; i < 3; i++) {
        const a = await attempt('127.0.3.1');
        expect(a.admitted, 'past the per-source limit').toBe(false);
        expect(a.conn.closedAfterMs!).toBeLessThan(1_000);
        expect(a.conn.data.length).toBe(0);
      }
      // In total (MaxStartups start:rate:full): past start, sources that already hold connections
      // are dropped at random, more often as the total nears full; the cap is never passed.
      const ownOthers = () => Object.values(slowSsh).filter((x) => x.isOpen).length;
      const othersBefore = ownOthers();
      let admitted = held.length;
      let dropped = 0;
      for (let s = 2; s < 2 + Math.ceil(MAX_UNAUTHENTICATED / MAX_UNAUTHENTICATED_PER_SOURCE) + 1; s++) {
        for (let i = 0; i < MAX_UNAUTHENTICATED_PER_SOURCE; i++) {
          const a = await attempt(`127.0.3.${s}`);
          if (!a.admitted) {
            dropped++;
            expect(a.conn.closedAfterMs!).toBeLessThan(1_000);
            continue;
          }
          held.push(a.conn);
          admitted++;
        }
      }
      expect(dropped, 'random early drop past MaxStartups start').toBeGreaterThan(0);
      expect(admitted).toBeLessThanOrEqual(MAX_UNAUTHENTICATED - Math.min(othersBefore, ownOthers()));
      // A source with no connection is never dropped at random; at full it takes the slot of the
      // oldest half-open connection of the busiest source.
      const newcomer = await attempt('127.0.3.200');
      expect(newcomer.admitted, 'a new source is admitted even at the cap').toBe(true);
      held.push(newcomer.conn);
      // Once they go, legitimate clients get in again.
      for (const h of held) h.socket.destroy();
      await waitFor(
        async () => {
          const a = await attempt(HOST);
          a.conn.socket.destroy();
          return a.admitted;
        },
        'the proxy to admit connections again',
        5_000,
      );
      const after = await c.tsh(['ssh', `--port=${c.sshd.port}`, 'root@127.0.0.1', 'echo after-the-flood']);
      expect(after.stdout, after.stderr).toBe('after-the-flood\n');
      mark('ssh caps done');
    };

    // ---- HTTPS: garbage, huge headers, oversized bodies, bad JSON -------------------------------
    const webGarbage = async () => {
      let stillOpen = 0;
      await pool(
        Array.from({ length: 120 }, (_, i) => i),
        12,
        async (i) => {
          // Not TLS at all, or TLS and then not HTTP.
          const conn = i < 80 ? tcp(webPort) : tlsConn(webPort);
          if (i >= 80) await secured(conn);
          conn.socket.end(crypto.randomBytes(1 + crypto.randomInt(8192)));
          if ((await conn.closedWithin(5_000)) === undefined) stillOpen++;
          conn.socket.destroy();
        },
      );
      expect(stillOpen, 'HTTPS: random bytes are all closed within 5 s').toBe(0);

      const head = (lines: string[]) => `${lines.join('\r\n')}\r\n\r\n`;
      const tooBig: Record<string, string> = {
        'one 64 KiB header': head(['GET /webapi/ping HTTP/1.1', 'host: x', `x-big: ${'a'.repeat(64 * 1024)}`]),
        '3000 small headers': head(['GET /webapi/ping HTTP/1.1', 'host: x', ...Array.from({ length: 3000 }, (_, i) => `x-h${i}: v`)]),
        '100 KiB URL': head([`GET /webapi/invites/${'A'.repeat(100 * 1024)} HTTP/1.1`, 'host: x']),
      };
      for (const [name, req] of Object.entries(tooBig)) {
        const r = await rawHttps(webPort, req);
        expect(r.status, `HTTPS: ${name}`).toBe(431);
      }
      const malformed: Record<string, string> = {
        'content-length and chunked': head(['POST /webapi/ssh/certs HTTP/1.1', 'host: x', 'content-length: 5', 'transfer-encoding: chunked', 'connection: close']) + '0\r\n\r\n',
        'two content-lengths': head(['POST /webapi/ssh/certs HTTP/1.1', 'host: x', 'content-length: 5', 'content-length: 6', 'connection: close']) + 'hello!',
        'unknown method': head(['FUZZ /webapi/ping HTTP/1.1', 'host: x', 'connection: close']),
        'NUL in a header': head(['GET /webapi/ping HTTP/1.1', 'host: x', 'x-a: \0', 'connection: close']),
        'bad chunk size': head(['POST /webapi/ssh/certs HTTP/1.1', 'host: x', 'transfer-encoding: chunked', 'connection: close']) + 'zz\r\n',
      };
      for (const [name, req] of Object.entries(malformed)) {
        const r = await rawHttps(webPort, req);
        expect(r.status, `HTTPS: ${name}: ${r.text.slice(0, 200)}`).toBe(400);
      }

      // Garbage JSON (within the size limit) on both endpoints that take a body.
      const bodies: (string | Buffer)[] = [
        'not json',
        '{',
        '{"user":',
        '\0\x01\x02',
        Buffer.from([0xff, 0xfe, 0x7b, 0x22]),
        '[]',
        'null',
        '1e999999',
        '"just a string"',
        '{"user":1,"password":[],"pub_key":{}}',
        '{"__proto__":{"admin":true},"user":"joe","password":"x","pub_key":"x"}',
        '['.repeat(60_000),
        `${'{"a":'.repeat(10_000)}1${'}'.repeat(10_000)}`,
        JSON.stringify({ user: 'joe', password: 'x'.repeat(60_000), pub_key: 'k' }),
        JSON.stringify({ password: 'p'.repeat(2000) }),
      ];
      for (const p of ['/webapi/ssh/certs', `/webapi/invites/${crypto.randomBytes(16).toString('hex')}`]) {
        for (const body of bodies) {
          const r = await httpsRequest(webPort, 'POST', p, body, { 'content-type': 'application/json', connection: 'close' });
          expect(r.status, `HTTPS: POST ${p} ${String(body).slice(0, 40)}: ${r.text}`).toBe(400);
          expect(r.json).toMatchObject({ error: { kind: 'bad-parameter' } });
        }
        const wrongType = await httpsRequest(webPort, 'POST', p, '{}', { 'content-type': 'text/plain', connection: 'close' });
        expect(wrongType.status).toBe(400);
      }
      mark('web garbage done');
    };

    const webBodies = async () => {
      /** Streams `total` bytes as fast as the server takes them; how far it got and what came back. */
      const upload = async (p: string, total: number, framing: 'content-length' | 'chunked') => {
        const conn = tlsConn(webPort);
        await secured(conn);
        conn.socket.write(`POST ${p} HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n${framing === 'chunked' ? 'transfer-encoding: chunked' : `content-length: ${total}`}\r\n\r\n`);
        const chunk = Buffer.alloc(64 * 1024, '{');
        let sent = 0;
        while (sent < total && conn.isOpen) {
          const piece = framing === 'chunked' ? Buffer.concat([Buffer.from(`${chunk.length.toString(16)}\r\n`), chunk, Buffer.from('\r\n')]) : chunk;
          sent += chunk.length;
          if (!conn.socket.write(piece)) await Promise.race([new Promise((r) => conn.socket.once('drain', r)), conn.closed]);
        }
        if (conn.isOpen && framing === 'chunked') conn.socket.write('0\r\n\r\n');
        const ms = await conn.closedWithin(10_000);
        conn.socket.destroy();
        return { status: Number(/^HTTP\/1\.1 (\d{3}) /.exec(conn.text)?.[1] ?? 0), text: conn.text, sent, ms };
      };
      const total = 100 * 1024 * 1024;
      for (const p of ['/webapi/ssh/certs', `/webapi/invites/${crypto.randomBytes(16).toString('hex')}`]) {
        for (const framing of ['content-length', 'chunked'] as const) {
          const r = await upload(p, total, framing);
          expect(r.status, `HTTPS: 100 MiB body (${framing}) to ${p}`).toBe(413);
          expect(r.text).toContain(`request body is larger than ${MAX_BODY_BYTES} bytes`);
          // Refused without reading it all: the connection closes long before 100 MiB went through.
          expect(r.sent).toBeLessThan(total);
          expect(r.ms).toBeLessThan(10_000);
        }
      }
      mark('web bodies done');
    };

    const webConnectionCap = async () => {
      const ownOthers = () => Object.values(slowWeb).filter((x) => x.conn.isOpen).length;
      const others = ownOthers();
      const extra = 20;
      // Spread over sources, each below its own cap (MAX_WEB_CONNECTIONS_PER_SOURCE).
      const conns = Array.from({ length: MAX_WEB_CONNECTIONS + extra }, (_, i) => tcp(webPort, `127.0.4.${1 + (i % 9)}`));
      const closedCount = () => conns.filter((x) => !x.isOpen).length;
      // Those past the cap are closed as soon as they are accepted; the rest stay (TLS deadline).
      await waitFor(() => closedCount() >= extra, 'connections past the cap to be closed', 5_000).catch(() => {});
      await sleep(300);
      const dropped = closedCount();
      mark(`web connections past the cap closed (${dropped})`);
      // Past the cap, connections are closed at once; the margin covers slow clients closing meanwhile.
      expect(dropped).toBeGreaterThanOrEqual(extra + Math.min(others, ownOthers()) - 1);
      expect(dropped).toBeLessThanOrEqual(extra + others + 1);
      for (const x of conns) x.socket.destroy();
      await waitFor(async () => (await httpsRequest(webPort, 'GET', '/webapi/ping', undefined, { connection: 'close' }).catch(() => ({ status: 0 }))).status === 200, 'ping after the connection flood', 5_000);
      // One source keeps at most its share; the rest are closed at once.
      const one = Array.from({ length: MAX_WEB_CONNECTIONS_PER_SOURCE + 10 }, () => tcp(webPort, '127.0.4.100'));
      await waitFor(() => one.filter((x) => !x.isOpen).length >= 10, 'connections past the per-source cap to be closed', 5_000).catch(() => {});
      await sleep(300);
      expect(one.filter((x) => !x.isOpen).length).toBe(10);
      for (const x of one) x.socket.destroy();
      mark('web connection cap done');
    };

    await Promise.all([
      (async () => {
        await sshGarbage();
        await authLimits();
        await unauthenticatedCaps();
      })(),
      (async () => {
        await webGarbage();
        await webBodies();
        await webConnectionCap();
      })(),
    ]);

    // ---- the slow clients were dropped at their deadlines -------------------------------------
    // No version line: closed at its deadline; a version line, then slow: the login grace period.
    const noVersionLine = new Set(['silent after connect', 'banner, a byte a second, no newline']);
    for (const [name, conn] of Object.entries(slowSsh)) {
      const deadline = noVersionLine.has(name) ? VERSION_LINE_DEADLINE_MS : LOGIN_GRACE_MS;
      const ms = await conn.closedWithin(deadline + LATE_MS - (Date.now() - conn.started));
      expect(ms, `SSH slow client "${name}" is closed by its deadline`).toBeDefined();
      expect(ms!, name).toBeGreaterThan(deadline - 1_000);
    }
    expect(noAuthKex, 'the client that never authenticates did finish its key exchange').toBe(true);
    noAuth.end();
    for (const [name, { conn, deadline }] of Object.entries(slowWeb)) {
      const ms = await conn.closedWithin(deadline + LATE_MS - (Date.now() - conn.started));
      expect(ms, `HTTPS slow client "${name}" is closed by its deadline`).toBeDefined();
      expect(ms!, name).toBeGreaterThan(deadline - 1_000);
    }
    mark('slow clients dropped');

    // ---- nothing lost: the session ends normally with every byte, and its recording verifies ---
    fs.writeFileSync(stopFile, '');
    expect(await legit.waitForExit(20_000)).toBe(0);
    const ticks = Number(/^end (\d+)$/m.exec(out)?.[1]);
    expect(ticks).toBeGreaterThan(100);
    const expected = `${Array.from({ length: 100_000 }, (_, i) => `${i + 1}\n`).join('')}${Array.from({ length: ticks }, (_, i) => `tick ${i + 1}\n`).join('')}end ${ticks}\n`;
    expect(out.length).toBe(expected.length);
    expect(out === expected, 'the session output is exactly what the node printed').toBe(true);
    expect(err).toBe('');
    let rec: Awaited<ReturnType<typeof sessions>>[number] | undefined;
    await waitFor(async () => (rec = (await sessions(c.daemon)).find((s) => s.command === command))?.endedAt != null, 'the session to be closed in the index', 10_000);
    expect(rec).toMatchObject({ exitStatus: 0, endReason: 'exit', bytesOut: Buffer.byteLength(expected) });
    expect(rec!.sha256Out).toBe(crypto.createHash('sha256').update(expected).digest('hex'));
    const recorded = castEvents(c.daemon, rec!.id).events.filter((e) => e[1] === 'o').map((e) => e[2]).join('');
    expect(recorded === expected, 'the recording holds every byte of the output').toBe(true);
    const verify = await c.daemon.tctl(['recordings', 'verify', rec!.id]);
    expect(verify.code, verify.stderr).toBe(0);
    expect(verify.stdout).toMatch(/^verified: /);
    mark('session verified');

    // ---- and the daemon serves normally ---------------------------------------------------------
    const ping = await httpsRequest(webPort, 'GET', '/webapi/ping', undefined, { connection: 'close' });
    expect(ping.status).toBe(200);
    expect(ping.json).toMatchObject({ cluster_name: 'example.test' });
    const fresh = await c.tsh(['ssh', `--port=${c.sshd.port}`, 'root@127.0.0.1', 'echo fresh']);
    expect(fresh.stdout, fresh.stderr).toBe('fresh\n');
    clearInterval(sampler);
    const rssAfter = rssKiB(pid);
    mark('done');

    // ---- bounded memory, rate-limited logs, no crash ------------------------------------------
    expect(c.daemon.process.running).toBe(true);
    const log = c.daemon.process.output.slice(logStart);
    expect(log).not.toMatch(/^\s+at /m);
    expect(log).not.toMatch(/ (ERROR|FATAL) /);
    // Some 1,500 bad connections make a few dozen lines: refusals and timeouts are tallied, not logged one by one.
    expect(log.split('\n').length).toBeLessThan(200);
    expect(log).toMatch(/refused HTTPS connections: too many open count=1 limit=512/);
    const refusals = log.split('\n').filter((l) => l.includes('refused SSH connections'));
    expect(refusals.length).toBeGreaterThanOrEqual(1);
    expect(refusals.length).toBeLessThanOrEqual(Math.ceil((Date.now() - t0) / 10_000) + 1);
    const rejected = JSON.parse((await c.daemon.tctl(['events', 'ls', '--type=session.rejected', '--format=json'])).stdout) as Array<{ user: string | null; count?: number }>;
    const aggregated = rejected.filter((e) => e.user === null);
    expect(aggregated.length).toBeGreaterThanOrEqual(1);
    expect(aggregated.length).toBeLessThanOrEqual(refusals.length);
    const growthMiB = (rssPeak - rssBefore) / 1024;
    console.log(
      `fuzz: rss before ${(rssBefore / 1024).toFixed(0)} MiB, peak +${growthMiB.toFixed(0)} MiB, after +${((rssAfter - rssBefore) / 1024).toFixed(0)} MiB; ` +
        `${log.split('\n').length - 1} daemon log lines; timings (ms): ${JSON.stringify(timings)}`,
    );
    expect(growthMiB).toBeLessThan(150);
    expect((rssAfter - rssBefore) / 1024).toBeLessThan(150);
    // Every socket the fuzzing opened is gone on the daemon's side too (no descriptor leak).
    for (const s of everySocket) s.destroy();
    await waitFor(() => fdCount(pid) <= fdsBefore + 5, `the daemon's descriptors back near ${fdsBefore} (now ${fdCount(pid)})`, 10_000);
    if (process.env.FUZZ_SHOW_LOG) console.log(log);
  }, 150_000);
});
