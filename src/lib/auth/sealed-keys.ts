import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { TollgateError } from '../errors.js';

/*
 * Private keys sealed at rest. The store's `cert_authorities.private_key` holds
 *   tollgate-sealed:v1:<kek id>:<base64(iv 12 | tag 16 | AES-256-GCM ciphertext of the PKCS#8 PEM)>
 * with the CA type (`user`, `host`, `openssh`, `recording`) as the additional authenticated data, so
 * a sealed row moved to another type's slot does not open. The key-encryption key (KEK, 32 bytes)
 * lives outside the store (teleport.keys_file or TOLLGATE_KEK): a copy of the database, or of a
 * data dir whose keys_file is elsewhere, reveals no private key and cannot sign. The kek id (the
 * first 8 bytes of SHA-256 of the KEK, hex) only tells a wrong key from a damaged row.
 */
export const SEALED_PREFIX = 'tollgate-sealed:v1:';
export const KEK_BYTES = 32;

/** Where the KEK comes from: read it if it exists, create it at first start. */
export interface KeySource {
  /** Said in errors and the start-up log: the file, or the environment variable. */
  readonly describe: string;
  read(): Buffer | undefined;
  /** Makes a new KEK (only when the store holds no sealed key). */
  create(): Buffer;
}

export function kekId(kek: Buffer): string {
  return crypto.createHash('sha256').update(kek).digest('hex').slice(0, 16);
}

export function isSealed(stored: string): boolean {
  return stored.startsWith(SEALED_PREFIX);
}

/** Seals a PEM private key under the KEK, bound to its CA type. */
export function sealPrivateKey(kek: Buffer, caType: string, pem: string): string {
  const iv = crypto.randomBytes(12);
  const c = crypto.createCipheriv('aes-256-gcm', kek, iv);
  c.setAAD(Buffer.from(caType));
  const ct = Buffer.concat([c.update(pem, 'utf8'), c.final()]);
  return `${SEALED_PREFIX}${kekId(kek)}:${Buffer.concat([iv, c.getAuthTag(), ct]).toString('base64')}`;
}

/** Opens a sealed key; a wrong KEK or a changed row is an error that says which. */
export function unsealPrivateKey(kek: Buffer, caType: string, stored: string, source: string): string {
  const [id, body] = stored.slice(SEALED_PREFIX.length).split(':');
  if (id !== kekId(kek)) {
    throw new TollgateError('access-denied', `the ${caType} CA key was sealed with another key-encryption key (id ${id}) than ${source} (id ${kekId(kek)})`, {
      hint: 'use the keys_file (or TOLLGATE_KEK) of the daemon that created this database',
    });
  }
  const raw = Buffer.from(body ?? '', 'base64');
  try {
    const d = crypto.createDecipheriv('aes-256-gcm', kek, raw.subarray(0, 12));
    d.setAAD(Buffer.from(caType));
    d.setAuthTag(raw.subarray(12, 28));
    return Buffer.concat([d.update(raw.subarray(28)), d.final()]).toString('utf8');
  } catch (err) {
    throw new TollgateError('internal', `the sealed ${caType} CA key in the store does not open: it was altered or damaged`, { hint: 'restore the cert_authorities rows from a backup', cause: err });
  }
}

/** A KEK given whole (TOLLGATE_KEK, tests): nothing to create. */
export function fixedKeySource(kek: Buffer, describe: string): KeySource {
  if (kek.length !== KEK_BYTES) throw new TollgateError('bad-parameter', `${describe}: the key-encryption key must be ${KEK_BYTES} bytes`);
  return { describe, read: () => kek, create: () => kek };
}

/**
 * The KEK in a file: base64 of 32 bytes on one line, mode 0600 in a 0700 directory (created so at
 * first start). A file others can read is refused, as ssh refuses such a private key. Creation is
 * exclusive, so daemons starting together on one shared file agree on the first one written.
 */
export function fileKeySource(file: string): KeySource {
  const read = (): Buffer | undefined => {
    let text: string;
    try {
      const st = fs.statSync(file);
      if ((st.mode & 0o077) !== 0) {
        throw new TollgateError('access-denied', `the key file ${file} is readable by others (mode ${(st.mode & 0o777).toString(8)})`, { hint: `chmod 600 ${file}` });
      }
      text = fs.readFileSync(file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
    const kek = Buffer.from(text.trim(), 'base64');
    if (kek.length !== KEK_BYTES) throw new TollgateError('bad-parameter', `the key file ${file} does not hold a ${KEK_BYTES}-byte key (base64)`, { hint: 'restore it from your backup of the key file' });
    return kek;
  };
  return {
    describe: `the key file ${file}`,
    read,
    create: () => {
      fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
      const kek = crypto.randomBytes(KEK_BYTES);
      try {
        fs.writeFileSync(file, `${kek.toString('base64')}\n`, { mode: 0o600, flag: 'wx' });
        return kek;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
        return read()!; // another daemon sharing the file wrote it first
      }
    },
  };
}
