import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { Duplex, Writable } from 'node:stream';
import type * as Ssh2 from 'ssh2';
import { parseCertificate, type ParsedCertificate } from '../ca/index.js';
import { isUuid } from '../ids.js';
import type { Logger } from '../log.js';

/*
 * tsh join across SSH workers. Round-robin puts a join's connection on any worker, but a session
 * lives in the worker that relays it (its screen, its participants, the keys of a peer). The
 * worker that took the join hands the channel to that process over a Unix socket in the data dir
 * named after the owner's server id; the owner serves the join as its own (same access rule,
 * audit, participant notices, peer input), so a join is the same whichever worker it lands on.
 * When no such socket answers (a session of another machine's daemon on PostgreSQL), the join
 * falls back to following the shipped recording, as before.
 *
 * The socket (0600, in the 0700 data dir, the daemon's own user) carries:
 *   one line of JSON: {secret, id, mode, user, clientAddr, cert: base64 certificate blob}
 * `secret` is the daemon's, made by the primary at start and given to its workers: a process that
 * can reach the socket but is not one of the daemon's cannot hand over a join it made up. The
 * user must be the certificate's key id, as the SSH authentication made it.
 *   then frames: byte type, uint32 length, payload.
 *     joiner → owner: 1 input
 *     owner → joiner: 1 output, 2 stderr, 3 exit status (uint32), 4 end of output
 * Closing the socket closes the channel on either side.
 */

const OUT = 1;
const ERR = 2;
const EXIT = 3;
const EOF = 4;
/** The kernel's limit for a Unix socket path (sun_path, 108 with its NUL; 104 on some systems). */
const MAX_SOCKET_PATH = 103;
const MAX_HEADER = 64 * 1024;
const MAX_FRAME = 16 * 1024 * 1024;

export interface BridgedIdentity {
  user: string;
  cert: ParsedCertificate;
  clientAddr: string;
}
export interface BridgedJoin {
  id: string;
  mode: 'observer' | 'peer';
}

/** The join socket of the process whose server id is `serverId`; undefined when the path would be too long. */
export function joinSocketPath(dataDir: string, serverId: string): string | undefined {
  // A server id is read from the store: only a UUID names a file.
  if (!isUuid(serverId)) return undefined;
  const p = path.join(dataDir, `join-${serverId}.sock`);
  return Buffer.byteLength(p) <= MAX_SOCKET_PATH ? p : undefined;
}

function frame(type: number, payload: Buffer): Buffer {
  const head = Buffer.allocUnsafe(5);
  head.writeUInt8(type, 0);
  head.writeUInt32BE(payload.length, 1);
  return Buffer.concat([head, payload]);
}

/** Splits a byte stream into frames. */
function frameReader(on: (type: number, payload: Buffer) => void, bad: () => void): (data: Buffer) => void {
  let buf: Buffer = Buffer.alloc(0);
  return (data) => {
    buf = buf.length ? Buffer.concat([buf, data]) : data;
    while (buf.length >= 5) {
      const len = buf.readUInt32BE(1);
      if (len > MAX_FRAME) return bad();
      if (buf.length < 5 + len) break;
      const type = buf.readUInt8(0);
      const payload = buf.subarray(5, 5 + len);
      buf = buf.subarray(5 + len);
      on(type, payload);
    }
  };
}

/**
 * The owner's end: a session channel as serveJoin sees one (data in, writes out, stderr, exit),
 * carried over the socket. Its writableLength counts what the socket has not sent yet, so a slow
 * joiner is dropped by the same bound as a local one.
 */
class BridgedChannel extends Duplex {
  readonly stderr: Writable;

  constructor(private readonly socket: net.Socket) {
    super();
    this.stderr = new Writable({ write: (chunk: Buffer, _enc, cb) => void socket.write(frame(ERR, Buffer.from(chunk)), () => cb()) });
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    this.socket.write(frame(OUT, Buffer.from(chunk)), () => cb());
  }

  override _final(cb: (err?: Error | null) => void): void {
    this.socket.write(frame(EOF, Buffer.alloc(0)), () => cb());
    this.socket.end();
  }

  override _read(): void {}

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    this.socket.destroy();
    cb(err);
  }

  exit(status: number): void {
    const b = Buffer.allocUnsafe(4);
    b.writeUInt32BE(status >>> 0, 0);
    this.socket.write(frame(EXIT, b));
  }
}

export interface JoinBridgeServer {
  close(): Promise<void>;
}

/**
 * Serves joins handed over by sibling workers, on this process's join socket: each becomes
 * `join(channel, who, req)` of the local proxy (which checks the identity and the access rule again).
 */
export async function serveJoinBridge(
  socketPath: string,
  join: (channel: Ssh2.ServerChannel, who: BridgedIdentity, req: BridgedJoin) => Promise<void>,
  log: Logger,
  secret: string,
): Promise<JoinBridgeServer> {
  const expected = Buffer.from(secret);
  fs.rmSync(socketPath, { force: true });
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    let header: Buffer = Buffer.alloc(0);
    const onHeader = (data: Buffer) => {
      header = Buffer.concat([header, data]);
      const nl = header.indexOf(0x0a);
      if (nl < 0) {
        if (header.length > MAX_HEADER) socket.destroy();
        return;
      }
      socket.off('data', onHeader);
      let who: BridgedIdentity;
      let req: BridgedJoin;
      try {
        const h = JSON.parse(header.subarray(0, nl).toString('utf8')) as { secret?: unknown; id: string; mode: 'observer' | 'peer'; user: string; clientAddr: string; cert: string };
        const given = Buffer.from(typeof h.secret === 'string' ? h.secret : '');
        if (given.length !== expected.length || !crypto.timingSafeEqual(given, expected)) throw new Error('not from this daemon (wrong secret)');
        who = { user: h.user, clientAddr: h.clientAddr, cert: parseCertificate(Buffer.from(h.cert, 'base64')) };
        if (who.cert.keyId !== who.user) throw new Error(`the certificate is ${who.cert.keyId}'s, not ${who.user}'s`);
        req = { id: h.id, mode: h.mode === 'peer' ? 'peer' : 'observer' };
      } catch (err) {
        log.warn('bad join hand-over from a sibling worker', { component: 'live', error: (err as Error).message });
        socket.destroy();
        return;
      }
      const channel = new BridgedChannel(socket);
      const read = frameReader(
        (type, payload) => {
          if (type === OUT) channel.push(Buffer.from(payload));
        },
        () => socket.destroy(),
      );
      socket.on('data', read);
      socket.once('close', () => channel.destroy());
      const rest = header.subarray(nl + 1);
      if (rest.length) read(rest);
      join(channel as unknown as Ssh2.ServerChannel, who, req).catch((err: Error) => {
        log.error('a handed-over join failed', { component: 'live', sid: req.id, error: err.message });
        channel.destroy();
      });
    };
    socket.on('data', onHeader);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(socketPath, () => resolve());
  });
  fs.chmodSync(socketPath, 0o600);
  return {
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
        fs.rmSync(socketPath, { force: true });
      }),
  };
}

/**
 * The joiner's end: hands `channel` to the process listening on `socketPath`. Resolves false
 * when nothing answers there (the caller serves the join another way), true once handed over.
 */
export function handOverJoin(socketPath: string, secret: string, channel: Ssh2.ServerChannel, who: BridgedIdentity, req: BridgedJoin): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(socketPath);
    socket.once('error', () => resolve(false));
    socket.once('connect', () => {
      socket.removeAllListeners('error');
      socket.on('error', () => undefined);
      resolve(true);
      socket.write(`${JSON.stringify({ secret, id: req.id, mode: req.mode, user: who.user, clientAddr: who.clientAddr, cert: who.cert.blob.toString('base64') })}\n`);
      const read = frameReader(
        (type, payload) => {
          if (channel.destroyed) return;
          if (type === OUT) {
            if (!channel.write(payload)) {
              socket.pause();
              channel.once('drain', () => socket.resume());
            }
          } else if (type === ERR) channel.stderr.write(payload);
          else if (type === EXIT) channel.exit(payload.readUInt32BE(0));
          else if (type === EOF) channel.end();
        },
        () => socket.destroy(),
      );
      socket.on('data', read);
      channel.on('data', (data: Buffer) => socket.write(frame(OUT, data)));
      channel.on('error', () => undefined);
      channel.once('close', () => socket.destroy());
      socket.once('close', () => {
        if (!channel.destroyed) channel.end();
      });
    });
  });
}
