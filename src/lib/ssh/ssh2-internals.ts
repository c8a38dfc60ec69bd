/*
 * Typed access to the few ssh2 internals the certificate layer needs (ssh2-certs.ts). ssh2 is
 * CommonJS; its internal modules are reached with `require` so that they are the very instances
 * that `import ssh2 from 'ssh2'` uses (both go through Node's CommonJS cache).
 *
 * Everything here depends on ssh2's private layout, which changes between releases without
 * notice: `assertSsh2Version()` refuses any version but the one these shapes were read from.
 * Upgrading ssh2 means re-reading the quoted functions and updating SUPPORTED_SSH2_VERSION.
 */
import { createRequire } from 'node:module';
import type * as Ssh2 from 'ssh2';
import { TollgateError } from '../errors.js';

const require = createRequire(import.meta.url);

/** The only ssh2 release the runtime patches were written against (package.json pins it). */
export const SUPPORTED_SSH2_VERSION = '1.17.0';

/** Throws unless the installed ssh2 is exactly SUPPORTED_SSH2_VERSION. */
export function assertSsh2Version(): void {
  const { version } = require('ssh2/package.json') as { version: string };
  if (version !== SUPPORTED_SSH2_VERSION) {
    throw new TollgateError(
      'internal',
      `tollgate's ssh2 certificate patches support ssh2 ${SUPPORTED_SSH2_VERSION} exactly, but ssh2 ${version} is installed`,
      { hint: `install ssh2@${SUPPORTED_SSH2_VERSION}, or re-check src/lib/ssh/ssh2-patches.ts against the new ssh2 and update SUPPORTED_SSH2_VERSION` },
    );
  }
}

/** The public ssh2 module (same instance as `import ssh2 from 'ssh2'`). */
export function ssh2Module(): typeof Ssh2 {
  return require('ssh2') as typeof Ssh2;
}

/** ssh2's key objects (lib/protocol/keyParser.js OpenSSH_Public / OpenSSH_Private); `type` may be any algorithm name. */
export interface Ssh2Key extends Omit<Ssh2.ParsedKey, 'type'> {
  type: string;
}

/** lib/protocol/keyParser.js */
export interface KeyParserModule {
  parseKey(data: Buffer | string, passphrase?: Buffer | string): Ssh2Key | Ssh2Key[] | Error;
  isParsedKey(val: unknown): val is Ssh2Key;
}

/** lib/protocol/zlib.js PacketWriter / ZlibPacketWriter. */
export interface PacketWriter {
  allocStart: number;
  alloc(payloadSize: number, force?: boolean): Buffer;
  finalize(packet: Buffer, force?: boolean): Buffer;
}

/** The KeyExchange instance at `protocol._kex` (lib/protocol/kex.js createKeyExchange). */
export interface KeyExchangeInternals {
  sessionID: Buffer | undefined;
  negotiated: { serverHostKey: string };
  _protocol: ProtocolInternals;
  _finished: boolean;
  finish(scOnly?: boolean): unknown;
}

export type AuthPKSign = (data: Buffer, cb: (signature: Buffer) => void) => void;

/** lib/protocol/Protocol.js Protocol (the fields and methods used here). */
export interface ProtocolInternals {
  _server: boolean;
  _kex: KeyExchangeInternals | undefined;
  _packetRW: { write: PacketWriter };
  _authsQueue: string[];
  _debug: ((msg: string) => void) | undefined;
  authPK(username: string, pubKey: unknown, keyAlgo?: string | AuthPKSign, cbSign?: AuthPKSign): void;
  openssh_authAgent(chan: number, initWindow: number, maxPacket: number): void;
}

export interface ProtocolClass {
  prototype: ProtocolInternals;
}

/** lib/protocol/utils.js */
export interface ProtocolUtilsModule {
  sendPacket(proto: ProtocolInternals, packet: Buffer, bypass?: boolean): boolean;
  convertSignature(signature: Buffer, keyType: string): Buffer | false | undefined;
}

/** lib/Channel.js */
export interface ChannelModule {
  MAX_WINDOW: number;
  PACKET_SIZE: number;
}

/** What a server-side connection (lib/server.js `Client`, ssh2's `Connection`) holds. */
export interface ServerConnectionInternals {
  authenticated: boolean;
  _protocol: ProtocolInternals;
  _chanMgr: {
    add(val: ((err: Error | undefined, stream?: Ssh2.Channel) => void) & { type?: string }): number;
    remove(id: number): void;
  };
}

export function keyParser(): KeyParserModule {
  return require('ssh2/lib/protocol/keyParser.js') as KeyParserModule;
}

export function protocolClass(): ProtocolClass {
  return require('ssh2/lib/protocol/Protocol.js') as ProtocolClass;
}

export function protocolUtils(): ProtocolUtilsModule {
  return require('ssh2/lib/protocol/utils.js') as ProtocolUtilsModule;
}

export function channelModule(): ChannelModule {
  return require('ssh2/lib/Channel.js') as ChannelModule;
}

/** lib/protocol/constants.js MESSAGE.USERAUTH_REQUEST (RFC 4252 §5). */
export const SSH_MSG_USERAUTH_REQUEST = 50;
