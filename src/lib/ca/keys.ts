import crypto, { type KeyObject } from 'node:crypto';
import { badParameter } from '../errors.js';
import { WireReader, WireWriter } from '../wire/index.js';

/*
 * ed25519 keys in the forms OpenSSH uses. Public key blob (RFC 8709 §4):
 *   string "ssh-ed25519" || string key (32 bytes)
 * Private keys are held as node:crypto KeyObjects (PKCS#8 PEM at rest in the store) and written
 * to disk in OpenSSH's own format (openssh-key-v1) through sshpk.
 */
export const ED25519 = 'ssh-ed25519';

export interface Ed25519KeyPair {
  privateKey: KeyObject;
  /** The SSH public key blob (`ssh-ed25519` + 32 bytes). */
  publicBlob: Buffer;
}

export function generateEd25519(): Ed25519KeyPair {
  const { privateKey, publicKey } = crypto.generateKeyPairSync('ed25519');
  return { privateKey, publicBlob: ed25519Blob(rawEd25519Public(publicKey)) };
}

/** The 32 raw public key bytes of an ed25519 KeyObject (public or private). */
export function rawEd25519Public(key: KeyObject): Buffer {
  const pub = key.type === 'private' ? crypto.createPublicKey(key) : key;
  const jwk = pub.export({ format: 'jwk' });
  if (jwk.crv !== 'Ed25519' || !jwk.x) throw badParameter('not an ed25519 key');
  return Buffer.from(jwk.x, 'base64url');
}

export function ed25519Blob(raw: Buffer): Buffer {
  return new WireWriter().string(ED25519).string(raw).toBuffer();
}

/** node:crypto public KeyObject for an `ssh-ed25519` blob. */
export function publicKeyFromBlob(blob: Buffer): KeyObject {
  const r = new WireReader(blob, 'public key');
  const algo = r.text();
  if (algo !== ED25519) throw badParameter(`unsupported key type ${algo}`, 'tollgate issues certificates for ed25519 keys (ssh-keygen -t ed25519)');
  const raw = r.string();
  if (raw.length !== 32 || !r.atEnd()) throw badParameter('malformed ed25519 public key');
  return crypto.createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: raw.toString('base64url') }, format: 'jwk' });
}

export function privateKeyFromPem(pem: string): KeyObject {
  return crypto.createPrivateKey(pem);
}

export function privateKeyToPem(key: KeyObject): string {
  return key.export({ type: 'pkcs8', format: 'pem' }).toString();
}

/** `ALGO BASE64 [comment]`, the authorized_keys / .pub form. */
export function publicKeyLine(blob: Buffer, comment?: string): string {
  const algo = new WireReader(blob).text();
  return `${algo} ${blob.toString('base64')}${comment ? ` ${comment}` : ''}`;
}

/** Parses an authorized_keys-style line (`ALGO BASE64 [comment]`) into its algorithm and blob. */
export function parsePublicKeyLine(line: string): { algo: string; blob: Buffer; comment: string } {
  const parts = line.trim().split(/\s+/);
  const [algo, b64] = parts;
  if (!algo || !b64 || !/^[A-Za-z0-9+/]+=*$/.test(b64)) throw badParameter('malformed public key line', 'expected "ssh-ed25519 AAAA... [comment]"');
  const blob = Buffer.from(b64, 'base64');
  let inner: string;
  try {
    inner = new WireReader(blob, 'public key').text();
  } catch {
    throw badParameter('malformed public key line', 'expected "ssh-ed25519 AAAA... [comment]"');
  }
  if (inner !== algo) throw badParameter(`public key line says ${algo} but holds ${inner}`);
  return { algo, blob, comment: parts.slice(2).join(' ') };
}

/** OpenSSH's fingerprint form: `SHA256:` + unpadded base64 of the blob's SHA-256. */
export function fingerprint(blob: Buffer): string {
  return `SHA256:${crypto.createHash('sha256').update(blob).digest('base64').replace(/=+$/, '')}`;
}

/** The private key as an OpenSSH `-----BEGIN OPENSSH PRIVATE KEY-----` file body (unencrypted). */
export async function privateKeyToOpenSSH(key: KeyObject, comment: string): Promise<string> {
  const { default: sshpk } = await import('sshpk');
  const k = sshpk.parsePrivateKey(privateKeyToPem(key), 'pkcs8');
  k.comment = comment;
  return k.toString('openssh');
}

/*
 * An unencrypted OpenSSH private key file holding one ed25519 key (what tsh login writes), read
 * without sshpk, whose loading was about 20 ms of tsh ssh's start-up. PROTOCOL.key:
 *   "-----BEGIN OPENSSH PRIVATE KEY-----" base64 "-----END OPENSSH PRIVATE KEY-----" of
 *   byte[] "openssh-key-v1\0" || string ciphername ("none") || string kdfname ("none") ||
 *   string kdfoptions ("") || uint32 number of keys (1) || string public key blob ||
 *   string private section: uint32 checkint || uint32 checkint (equal) || string "ssh-ed25519" ||
 *     string public key (32 bytes) || string private key (seed 32 || public 32) || string comment ||
 *     padding 1, 2, 3, ...
 * Anything else (encrypted, several keys, another type) returns undefined: sshpk reads it.
 */
const OPENSSH_KEY = /^-----BEGIN OPENSSH PRIVATE KEY-----\r?\n([A-Za-z0-9+/=\r\n]+)-----END OPENSSH PRIVATE KEY-----\s*$/;
const AUTH_MAGIC = Buffer.from('openssh-key-v1\0', 'latin1');

/** The ed25519 key of an unencrypted single-key OpenSSH private key file, else undefined (layout above). */
export function parseOpenSshEd25519(text: string): KeyObject | undefined {
  const m = OPENSSH_KEY.exec(text.trim() + '\n');
  if (!m) return undefined;
  const bytes = Buffer.from(m[1]!.replace(/\s+/g, ''), 'base64');
  if (!bytes.subarray(0, AUTH_MAGIC.length).equals(AUTH_MAGIC)) return undefined;
  const r = new WireReader(bytes.subarray(AUTH_MAGIC.length), 'OpenSSH private key');
  if (r.text() !== 'none' || r.text() !== 'none' || r.string().length !== 0 || r.uint32() !== 1) return undefined;
  const publicBlob = r.string();
  const p = new WireReader(r.string(), 'OpenSSH private key');
  if (p.uint32() !== p.uint32() || p.text() !== ED25519) return undefined;
  const pub = p.string();
  const priv = p.string();
  if (pub.length !== 32 || priv.length !== 64 || !priv.subarray(32).equals(pub) || !publicBlob.equals(ed25519Blob(pub))) return undefined;
  return crypto.createPrivateKey({ key: { kty: 'OKP', crv: 'Ed25519', d: priv.subarray(0, 32).toString('base64url'), x: pub.toString('base64url') }, format: 'jwk' });
}

/** Reads an OpenSSH or PKCS#8 private key file's text into a KeyObject. */
export async function parsePrivateKeyText(text: string): Promise<KeyObject> {
  if (text.includes('BEGIN PRIVATE KEY')) return crypto.createPrivateKey(text);
  const own = parseOpenSshEd25519(text);
  if (own) return own;
  const { default: sshpk } = await import('sshpk');
  const k = sshpk.parsePrivateKey(text, 'auto');
  if (k.type !== 'ed25519') throw badParameter(`unsupported private key type ${k.type}`, 'tollgate uses ed25519 keys');
  // sshpk's PKCS#8 output for ed25519 is not what OpenSSL reads; build the key from its parts.
  const part = (name: string) => (k as unknown as { part: Record<string, { data: Buffer }> }).part[name]!.data;
  return crypto.createPrivateKey({ key: { kty: 'OKP', crv: 'Ed25519', d: part('k').toString('base64url'), x: part('A').toString('base64url') }, format: 'jwk' });
}
