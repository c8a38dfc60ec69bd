import { WireReader } from '../wire/index.js';
import { FXP, headerBytes, openFlags, readAttrs, statusText } from './packets.js';

/*
 * A passive SFTP parser: it watches the two byte streams of an `sftp` subsystem channel (in
 * whatever chunks the relay sees) and reports the file operations in them. It never writes,
 * never buffers file data (WRITE and DATA payloads are counted, not copied), keeps bounded state,
 * and never throws on what it is fed: on bytes that are not SFTP it stops and says why, once.
 * Packet layouts are quoted in packets.ts.
 */

/** One file operation, with the server's answer. */
export interface SftpFileEvent {
  op: 'open' | 'read' | 'write' | 'close' | 'remove' | 'rename' | 'mkdir' | 'rmdir' | 'setstat' | 'symlink' | 'link';
  path: string;
  /** rename, symlink and link: the new name (rename, link) or what the link points to (symlink). */
  target?: string;
  /** open: the open flags (read, write, append, create, trunc, excl). */
  flags?: string[];
  /** setstat: what it changes ("mode 0644, mtime 1700000000"). */
  attrs?: string;
  /** read and write: bytes moved through one handle, reported when it is closed. */
  bytes?: number;
  ok: boolean;
  /** The server's message when it refused (or why the parser could not see the answer). */
  error?: string;
}

export interface SftpParserOptions {
  onEvent(e: SftpFileEvent): void;
  /** Called once when the parser gives up on the streams (garbage, an unknown version, a limit). */
  onStop?(reason: string): void;
  /** Requests awaiting a reply that are remembered (the oldest is forgotten past it). Default 4096. */
  maxPending?: number;
  /** Open file handles tracked (the oldest is reported and forgotten past it). Default 1024. */
  maxHandles?: number;
}

/** The largest packet that is buffered whole (OpenSSH's own limit, SFTP_MAX_MSG_LENGTH). */
export const MAX_BUFFERED_PACKET = 256 * 1024;
/** Past this length a packet is not SFTP (OpenSSH sends at most 256 KiB; data packets are skipped, not buffered). */
export const MAX_PACKET = 16 * 1024 * 1024;

const CLIENT_TYPES = new Set([1, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 200]);
const SERVER_TYPES = new Set([2, 101, 102, 103, 104, 105, 201]);

type Pending =
  | { op: 'open'; path: string; flags: string[] }
  | { op: 'close' | 'read'; handle: string }
  | { op: 'write'; handle: string; bytes: number }
  | { op: 'fsetstat'; handle: string; attrs: string }
  | { op: 'simple'; event: Omit<SftpFileEvent, 'ok'> };

interface OpenFile {
  path: string;
  flags: string[];
  read: number;
  written: number;
  writeError?: string;
}

class StopParsing extends Error {}

/**
 * Reassembles one direction's packets: `uint32 length | byte type | ...`. Keeps at most the
 * header that headerBytes() asks for and skips the rest of the packet without copying it.
 */
class Framer {
  private readonly head = Buffer.alloc(5);
  private headGot = 0;
  private length = 0;
  private buf: Buffer | undefined;
  private got = 0;
  private skip = 0;

  constructor(
    private readonly fromClient: boolean,
    private readonly onPacket: (type: number, header: Buffer, length: number) => void,
  ) {}

  push(chunk: Buffer): void {
    let i = 0;
    while (i < chunk.length) {
      if (this.skip > 0) {
        const n = Math.min(this.skip, chunk.length - i);
        this.skip -= n;
        i += n;
        continue;
      }
      if (this.headGot < 5) {
        const n = Math.min(5 - this.headGot, chunk.length - i);
        chunk.copy(this.head, this.headGot, i, i + n);
        this.headGot += n;
        i += n;
        if (this.headGot < 5) return;
        this.start();
        continue;
      }
      const buf = this.buf!;
      const n = Math.min(buf.length - this.got, chunk.length - i);
      chunk.copy(buf, this.got, i, i + n);
      this.got += n;
      i += n;
      if (this.got === buf.length) this.deliver();
    }
  }

  private start(): void {
    this.length = this.head.readUInt32BE(0);
    const type = this.head[4]!;
    if (this.length < 1 || this.length > MAX_PACKET) throw new StopParsing(`a packet of ${this.length} bytes is not SFTP`);
    if (!(this.fromClient ? CLIENT_TYPES : SERVER_TYPES).has(type)) throw new StopParsing(`unknown packet type ${type} from the ${this.fromClient ? 'client' : 'server'}`);
    const keep = headerBytes(type, this.length, this.fromClient);
    if (keep > MAX_BUFFERED_PACKET) throw new StopParsing(`a type ${type} packet of ${this.length} bytes is over the ${MAX_BUFFERED_PACKET}-byte limit`);
    this.buf = Buffer.allocUnsafe(keep);
    this.buf[0] = type;
    this.got = 1;
    if (this.got === keep) this.deliver();
  }

  private deliver(): void {
    const buf = this.buf!;
    this.buf = undefined;
    this.headGot = 0;
    this.skip = this.length - buf.length;
    this.onPacket(buf[0]!, buf, this.length);
  }
}

/** Watches one sftp channel: feed it both directions' bytes; it calls onEvent per file operation. */
export class SftpParser {
  private readonly client: Framer;
  private readonly server: Framer;
  private readonly pending = new Map<number, Pending>();
  private readonly files = new Map<string, OpenFile>();
  private readonly maxPending: number;
  private readonly maxHandles: number;
  private stopReason: string | undefined;

  constructor(private readonly o: SftpParserOptions) {
    this.maxPending = o.maxPending ?? 4096;
    this.maxHandles = o.maxHandles ?? 1024;
    this.client = new Framer(true, (t, h, len) => this.request(t, h, len));
    this.server = new Framer(false, (t, h, len) => this.reply(t, h, len));
  }

  /** Why the parser stopped, if it did (it reads nothing after that). */
  get stopped(): string | undefined {
    return this.stopReason;
  }

  /** Bytes from the client to the server (requests). */
  fromClient(chunk: Buffer): void {
    this.feed(this.client, chunk);
  }

  /** Bytes from the server to the client (replies). */
  fromServer(chunk: Buffer): void {
    this.feed(this.server, chunk);
  }

  /** The channel is over: files still open are reported with their totals, as not closed. */
  end(): void {
    if (this.stopReason) return;
    for (const [handle] of this.files) this.closeFile(handle, false, 'still open when the session ended');
    this.pending.clear();
  }

  private feed(framer: Framer, chunk: Buffer): void {
    if (this.stopReason) return;
    try {
      framer.push(chunk);
    } catch (err) {
      this.stop(err instanceof StopParsing ? err.message : `malformed packet: ${(err as Error).message}`);
    }
  }

  private stop(reason: string): void {
    if (this.stopReason) return;
    this.stopReason = reason;
    this.pending.clear();
    this.files.clear();
    this.o.onStop?.(reason);
  }

  private expect(id: number, p: Pending): void {
    // A reply that never comes (a broken server) must not grow this: the oldest request goes.
    if (this.pending.size >= this.maxPending) this.pending.delete(this.pending.keys().next().value!);
    this.pending.set(id, p);
  }

  private request(type: number, header: Buffer, length: number): void {
    const r = new WireReader(header, 'SFTP request');
    r.uint8();
    if (type === FXP.INIT) return;
    const id = r.uint32();
    const text = () => r.text();
    const handle = () => r.string().toString('latin1');
    switch (type) {
      case FXP.OPEN: {
        const path = text();
        return this.expect(id, { op: 'open', path, flags: openFlags(r.uint32()) });
      }
      case FXP.CLOSE:
        return this.expect(id, { op: 'close', handle: handle() });
      case FXP.READ:
        return this.expect(id, { op: 'read', handle: handle() });
      case FXP.WRITE: {
        const h = handle();
        r.uint64();
        const bytes = r.uint32();
        // The data is not in the header: its length must fit what the packet says is left.
        if (bytes > length - r.offset) throw new StopParsing(`a WRITE claims ${bytes} bytes of data in a ${length}-byte packet`);
        return this.expect(id, { op: 'write', handle: h, bytes });
      }
      case FXP.SETSTAT: {
        const path = text();
        return this.expect(id, { op: 'simple', event: { op: 'setstat', path, attrs: readAttrs(r) } });
      }
      case FXP.FSETSTAT: {
        const h = handle();
        return this.expect(id, { op: 'fsetstat', handle: h, attrs: readAttrs(r) });
      }
      case FXP.REMOVE:
        return this.expect(id, { op: 'simple', event: { op: 'remove', path: text() } });
      case FXP.MKDIR:
        return this.expect(id, { op: 'simple', event: { op: 'mkdir', path: text() } });
      case FXP.RMDIR:
        return this.expect(id, { op: 'simple', event: { op: 'rmdir', path: text() } });
      case FXP.RENAME: {
        const path = text();
        return this.expect(id, { op: 'simple', event: { op: 'rename', path, target: text() } });
      }
      case FXP.SYMLINK: {
        // OpenSSH's order: target first, then the link (see packets.ts).
        const target = text();
        return this.expect(id, { op: 'simple', event: { op: 'symlink', path: text(), target } });
      }
      case FXP.EXTENDED:
        return this.extended(id, r.text(), r);
      default:
        // Listings, stats, realpath: read-only, and not file transfers.
        return;
    }
  }

  private extended(id: number, name: string, r: WireReader): void {
    switch (name) {
      case 'posix-rename@openssh.com': {
        const path = r.text();
        return this.expect(id, { op: 'simple', event: { op: 'rename', path, target: r.text() } });
      }
      case 'hardlink@openssh.com': {
        const target = r.text();
        return this.expect(id, { op: 'simple', event: { op: 'link', path: r.text(), target } });
      }
      case 'lsetstat@openssh.com': {
        const path = r.text();
        return this.expect(id, { op: 'simple', event: { op: 'setstat', path, attrs: readAttrs(r) } });
      }
      default:
        return;
    }
  }

  private reply(type: number, header: Buffer, length: number): void {
    const r = new WireReader(header, 'SFTP reply');
    r.uint8();
    if (type === FXP.VERSION) {
      const version = r.uint32();
      if (version !== 3) throw new StopParsing(`SFTP version ${version} is not parsed (only version 3)`);
      return;
    }
    const id = r.uint32();
    const p = this.pending.get(id);
    if (!p) return;
    this.pending.delete(id);
    switch (type) {
      case FXP.STATUS: {
        const code = r.uint32();
        const ok = code === 0;
        const error = ok ? undefined : statusText(code, r.remaining >= 4 ? r.text() : '');
        return this.status(p, ok, error);
      }
      case FXP.HANDLE:
        if (p.op === 'open') this.opened(r.string().toString('latin1'), p.path, p.flags);
        return;
      case FXP.DATA: {
        if (p.op !== 'read') return;
        const bytes = r.uint32();
        if (bytes > length - r.offset) throw new StopParsing(`a DATA reply claims ${bytes} bytes in a ${length}-byte packet`);
        const f = this.files.get(p.handle);
        if (f) f.read += bytes;
        return;
      }
      default:
        return;
    }
  }

  private status(p: Pending, ok: boolean, error: string | undefined): void {
    const failed = ok ? {} : { error };
    switch (p.op) {
      case 'open':
        // A handle is the only success; a STATUS here is a refusal.
        return this.o.onEvent({ op: 'open', path: p.path, flags: p.flags, ok: false, error: error ?? 'no handle' });
      case 'close':
        if (this.files.has(p.handle)) this.closeFile(p.handle, ok, error);
        return;
      case 'read':
        return; // EOF, or a failed read: the total says what arrived.
      case 'write': {
        const f = this.files.get(p.handle);
        if (!f) return;
        if (ok) f.written += p.bytes;
        else f.writeError ??= error;
        return;
      }
      case 'fsetstat': {
        const f = this.files.get(p.handle);
        if (f) this.o.onEvent({ op: 'setstat', path: f.path, attrs: p.attrs, ok, ...failed });
        return;
      }
      case 'simple':
        return this.o.onEvent({ ...p.event, ok, ...failed });
    }
  }

  private opened(handle: string, path: string, flags: string[]): void {
    if (this.files.size >= this.maxHandles) this.closeFile(this.files.keys().next().value!, false, `no longer tracked: more than ${this.maxHandles} files open`);
    this.files.set(handle, { path, flags, read: 0, written: 0 });
    this.o.onEvent({ op: 'open', path, flags, ok: true });
  }

  private closeFile(handle: string, ok: boolean, error: string | undefined): void {
    const f = this.files.get(handle)!;
    this.files.delete(handle);
    if (f.flags.includes('read') || f.read > 0) this.o.onEvent({ op: 'read', path: f.path, bytes: f.read, ok: true });
    if (f.flags.includes('write') || f.flags.includes('append') || f.written > 0 || f.writeError) {
      this.o.onEvent({ op: 'write', path: f.path, bytes: f.written, ok: !f.writeError, ...(f.writeError ? { error: f.writeError } : {}) });
    }
    this.o.onEvent({ op: 'close', path: f.path, ok, ...(ok ? {} : { error }) });
  }
}

/** Quotes a path when it has spaces, quotes or control characters (a label is shown on terminals). */
function quote(path: string): string {
  return /[\u0000-\u0020\u007f-\u009f"\\]/.test(path) ? JSON.stringify(path) : path;
}

/** One line for a recording's marker: `sftp open /tmp/a (write,create,trunc)`, `sftp write /tmp/a 1024 bytes`. */
export function fileEventLabel(e: SftpFileEvent): string {
  let s = `sftp ${e.op} ${quote(e.path)}`;
  if (e.target !== undefined) s += ` -> ${quote(e.target)}`;
  if (e.flags) s += ` (${e.flags.join(',')})`;
  if (e.attrs) s += ` (${e.attrs})`;
  if (e.bytes !== undefined) s += ` ${e.bytes} bytes`;
  if (!e.ok) s += ` failed: ${(e.error ?? 'failed').replace(/[\u0000-\u001f\u007f-\u009f]/g, '?')}`;
  return s;
}
