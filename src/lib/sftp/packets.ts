/*
 * The SFTP packets the passive parser reads: protocol version 3, draft-ietf-secsh-filexfer-02, as
 * OpenSSH speaks it, with OpenSSH's extensions (OpenSSH PROTOCOL §4).
 *
 * Every packet (draft-02 §3):
 *   uint32 length          (of what follows: type and body)
 *   byte   type
 *   uint32 request-id      (every type but INIT and VERSION)
 *   ...    type-specific fields
 * `string` is uint32 length || bytes (RFC 4251 §5); paths are bytes, shown as UTF-8.
 *
 * Requests (client → server) this parser decodes, after `uint32 id`:
 *   3   OPEN      string filename, uint32 pflags, ATTRS attrs
 *   4   CLOSE     string handle
 *   5   READ      string handle, uint64 offset, uint32 len
 *   6   WRITE     string handle, uint64 offset, string data   (data is counted, never buffered)
 *   9   SETSTAT   string path, ATTRS attrs
 *   10  FSETSTAT  string handle, ATTRS attrs
 *   13  REMOVE    string filename
 *   14  MKDIR     string path, ATTRS attrs
 *   15  RMDIR     string path
 *   18  RENAME    string oldpath, string newpath
 *   20  SYMLINK   string linkpath, string targetpath per the draft; OpenSSH sends them reversed
 *                 (PROTOCOL §4.1: "string targetpath, string linkpath"), and so does every client
 *                 of an OpenSSH server, so this parser reads the OpenSSH order
 *   200 EXTENDED  string extended-request, ...
 *         posix-rename@openssh.com  string oldpath, string newpath   (PROTOCOL §4.3)
 *         hardlink@openssh.com      string oldpath, string newpath   (PROTOCOL §4.5)
 *         lsetstat@openssh.com      string path, ATTRS attrs         (PROTOCOL §4.9)
 * Replies (server → client), after `uint32 id`:
 *   101 STATUS    uint32 error-code, string message, string language-tag
 *   102 HANDLE    string handle
 *   103 DATA      string data                                  (counted, never buffered)
 *   104 NAME, 105 ATTRS, 201 EXTENDED_REPLY: only the id is read
 * Version negotiation, no id (draft-02 §4):
 *   1   INIT      uint32 version, (string name, string data)*
 *   2   VERSION   uint32 version, (string name, string data)*
 * ATTRS (draft-02 §5):
 *   uint32 flags
 *   uint64 size              if flags & 0x1 (SIZE)
 *   uint32 uid, uint32 gid   if flags & 0x2 (UIDGID)
 *   uint32 permissions       if flags & 0x4 (PERMISSIONS)
 *   uint32 atime, mtime      if flags & 0x8 (ACMODTIME)
 *   uint32 count, (string type, string data)*count   if flags & 0x80000000 (EXTENDED)
 */
import { WireReader } from '../wire/index.js';

export const FXP = {
  INIT: 1,
  VERSION: 2,
  OPEN: 3,
  CLOSE: 4,
  READ: 5,
  WRITE: 6,
  SETSTAT: 9,
  FSETSTAT: 10,
  REMOVE: 13,
  MKDIR: 14,
  RMDIR: 15,
  RENAME: 18,
  SYMLINK: 20,
  STATUS: 101,
  HANDLE: 102,
  DATA: 103,
  EXTENDED: 200,
} as const;

/** Open flags (draft-02 §6.3), in the order a label names them. */
const PFLAGS: ReadonlyArray<[number, string]> = [
  [0x01, 'read'],
  [0x02, 'write'],
  [0x04, 'append'],
  [0x08, 'create'],
  [0x10, 'trunc'],
  [0x20, 'excl'],
];

/** Status codes (draft-02 §7), for a failure without a message. */
const STATUS_NAMES = ['ok', 'eof', 'no such file', 'permission denied', 'failure', 'bad message', 'no connection', 'connection lost', 'operation unsupported'];

/** The handle length the draft allows (§3: "MUST NOT be longer than 256 bytes"). */
export const MAX_HANDLE = 256;
/** What a WRITE's header can take before its data: type, id, handle, offset, data length. */
export const WRITE_HEADER_MAX = 1 + 4 + 4 + MAX_HANDLE + 8 + 4;
/** A DATA reply's header before its data: type, id, data length. */
export const DATA_HEADER = 1 + 4 + 4;
/** Replies whose body this parser does not read: type and id are enough. */
export const ID_ONLY = 1 + 4;

export function openFlags(pflags: number): string[] {
  return PFLAGS.filter(([bit]) => pflags & bit).map(([, name]) => name);
}

export function statusText(code: number, message: string): string {
  return message || STATUS_NAMES[code] || `status ${code}`;
}

/** A readable summary of the attributes a SETSTAT changes ("mode 0644, mtime 1700000000"). */
export function readAttrs(r: WireReader): string {
  const flags = r.uint32();
  const parts: string[] = [];
  if (flags & 0x1) parts.push(`size ${r.uint64()}`);
  if (flags & 0x2) parts.push(`uid ${r.uint32()}`, `gid ${r.uint32()}`);
  if (flags & 0x4) parts.push(`mode ${(r.uint32() & 0o7777).toString(8).padStart(4, '0')}`);
  if (flags & 0x8) parts.push(`atime ${r.uint32()}`, `mtime ${r.uint32()}`);
  return parts.join(', ');
}

/** How many bytes of a packet the parser keeps (the rest is counted and skipped). */
export function headerBytes(type: number, length: number, fromClient: boolean): number {
  if (fromClient && type === FXP.WRITE) return Math.min(length, WRITE_HEADER_MAX);
  if (!fromClient && type === FXP.DATA) return Math.min(length, DATA_HEADER);
  if (!fromClient && type !== FXP.VERSION && type !== FXP.STATUS && type !== FXP.HANDLE) return Math.min(length, ID_ONLY);
  if (fromClient && !REQUESTS_READ.has(type)) return Math.min(length, ID_ONLY);
  return length;
}

/** Request types whose body the parser reads in full (all small: paths, handles and attributes). */
const REQUESTS_READ = new Set<number>([FXP.INIT, FXP.OPEN, FXP.CLOSE, FXP.READ, FXP.SETSTAT, FXP.FSETSTAT, FXP.REMOVE, FXP.MKDIR, FXP.RMDIR, FXP.RENAME, FXP.SYMLINK, FXP.EXTENDED]);
