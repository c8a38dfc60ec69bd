/*
 * What patches/ssh2+1.17.0.patch adds to ssh2 (applied to node_modules by patch-package in
 * `npm ci`'s postinstall; patches/README.md explains each hunk), typed, and the check that it
 * is there. ssh2 is CommonJS; its internal modules are reached with `require` so that they are
 * the very instances `import ssh2 from 'ssh2'` uses (both go through Node's CommonJS cache).
 *
 * Without the patch ssh2 silently does the wrong thing with certificates (signatures named with
 * the certificate algorithm, which OpenSSH refuses; host certificates not offered or not
 * verifiable), so the composition roots (the daemon's runtime, tsh's SSH client) call
 * assertSsh2Patched() once at start-up and refuse to run on an unpatched install.
 */
import { createRequire } from 'node:module';
import type * as Ssh2 from 'ssh2';
import { TollgateError } from '../errors.js';

const require = createRequire(import.meta.url);

/** The only ssh2 release the patch was written against (package.json pins it). */
export const SUPPORTED_SSH2_VERSION = '1.17.0';
/** The revision the patch exports as constants.TOLLGATE_SSH2_PATCH (bumped when the patch changes). */
export const SSH2_PATCH_REVISION = 3;
/** Where the patch lives, for error messages. */
export const SSH2_PATCH_FILE = `patches/ssh2+${SUPPORTED_SSH2_VERSION}.patch`;

/** ssh2's lib/protocol/constants.js: the fields tollgate reads (the last three come from the patch). */
export interface Ssh2Constants {
  DEFAULT_SERVER_HOST_KEY: string[];
  SUPPORTED_SERVER_HOST_KEY: string[];
  /** The patch marker: SSH2_PATCH_REVISION when the patch is applied, absent otherwise. */
  TOLLGATE_SSH2_PATCH?: unknown;
  /** Certificate algorithm → plain signature algorithm (PROTOCOL.certkeys), as ssh2 uses it. */
  CERT_SIGNATURE_ALGORITHMS?: Readonly<Record<string, string>>;
  sigAlgoForKeyAlgo?: (algo: string) => string;
}

/** What assertSsh2Patched looks at; injectable for tests. */
export interface InstalledSsh2 {
  /** ssh2/package.json `version`. */
  version: string;
  constants: Ssh2Constants;
}

/** A server-side connection (ssh2's `Connection`, lib/server.js `Client`) with the patch's openssh_authAgent. */
export interface PatchedServerConnection extends Ssh2.Connection {
  /** Asks the client to open an `auth-agent@openssh.com` channel (patch hunk server.js). */
  openssh_authAgent(cb: (err: Error | undefined, channel: Ssh2.Channel) => void): this;
}

/** ssh2's lib/protocol/constants.js (the instance ssh2 itself uses). */
export function ssh2Constants(): Ssh2Constants {
  return require('ssh2/lib/protocol/constants.js') as Ssh2Constants;
}

/** The installed ssh2, as assertSsh2Patched sees it. */
export function installedSsh2(): InstalledSsh2 {
  const { version } = require('ssh2/package.json') as { version: string };
  return { version, constants: ssh2Constants() };
}

/**
 * Throws a TollgateError ('internal') unless the installed ssh2 is SUPPORTED_SSH2_VERSION with
 * patches/ssh2+1.17.0.patch applied (revision SSH2_PATCH_REVISION). Call once per process from a
 * composition root, before any SSH connection; cheap, so calling it again is harmless.
 */
export function assertSsh2Patched(installed: InstalledSsh2 = installedSsh2()): void {
  const reinstall = `reinstall with \`npm ci\` so that ${SSH2_PATCH_FILE} is applied (its postinstall runs patch-package)`;
  if (installed.version !== SUPPORTED_SSH2_VERSION) {
    throw new TollgateError('internal', `tollgate needs ssh2 ${SUPPORTED_SSH2_VERSION} exactly (with ${SSH2_PATCH_FILE}), but ssh2 ${installed.version} is installed`, {
      hint: `install ssh2@${SUPPORTED_SSH2_VERSION} (npm ci), or port ${SSH2_PATCH_FILE} to the new ssh2 and update SUPPORTED_SSH2_VERSION`,
    });
  }
  const marker = installed.constants.TOLLGATE_SSH2_PATCH;
  if (marker === undefined) {
    throw new TollgateError('internal', `ssh2 ${installed.version} is installed without tollgate's patch (${SSH2_PATCH_FILE}): OpenSSH certificates would not work`, { hint: reinstall });
  }
  if (marker !== SSH2_PATCH_REVISION) {
    throw new TollgateError('internal', `ssh2 carries revision ${String(marker)} of tollgate's patch, but this tollgate needs revision ${SSH2_PATCH_REVISION}`, { hint: reinstall });
  }
}
