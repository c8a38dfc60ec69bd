/*
 * Typed access to the few ssh2 modules the certificate layer uses beyond ssh2's public API
 * (the key parser). ssh2 is CommonJS; its internal modules are reached with `require` so that
 * they are the very instances that `import ssh2 from 'ssh2'` uses (both go through Node's
 * CommonJS cache). ssh2 is pinned to 1.17.0 (ssh2-patch.ts assertSsh2Patched).
 */
import { createRequire } from 'node:module';
import type * as Ssh2 from 'ssh2';

const require = createRequire(import.meta.url);

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

export function keyParser(): KeyParserModule {
  return require('ssh2/lib/protocol/keyParser.js') as KeyParserModule;
}
