import crypto, { type KeyObject } from 'node:crypto';
import { badParameter } from '../errors.js';
import { WireReader, WireWriter } from '../wire/index.js';
import { ED25519, publicKeyFromBlob } from './keys.js';

/*
 * OpenSSH's detached signature format, PROTOCOL.sshsig:
 *   signed data:  byte[6] "SSHSIG" || string namespace || string reserved || string hash_algorithm || string H(message)
 *   blob:         byte[6] "SSHSIG" || uint32 1 || string publickey || string namespace || string reserved
 *                 || string hash_algorithm || string signature   (signature = string "ssh-ed25519" || string sig)
 *   armor:        "-----BEGIN SSH SIGNATURE-----", base64 of the blob in 70-column lines, "-----END SSH SIGNATURE-----"
 * so `ssh-keygen -Y verify -f allowed_signers -I IDENTITY -n NAMESPACE -s FILE.sig < FILE` checks it.
 */
const MAGIC = Buffer.from('SSHSIG');
const BEGIN = '-----BEGIN SSH SIGNATURE-----';
const END = '-----END SSH SIGNATURE-----';

function signedData(namespace: string, hashAlgorithm: string, digest: Buffer): Buffer {
  return Buffer.concat([MAGIC, new WireWriter().string(namespace).string('').string(hashAlgorithm).string(digest).toBuffer()]);
}

/** Signs a message given its digest (computed as the message was written); sha256 or sha512, as PROTOCOL.sshsig allows. */
export function signSshsig(privateKey: KeyObject, publicBlob: Buffer, namespace: string, digest: Buffer, hashAlgorithm: 'sha256' | 'sha512' = 'sha512'): string {
  const sig = new WireWriter().string(ED25519).string(crypto.sign(null, signedData(namespace, hashAlgorithm, digest), privateKey)).toBuffer();
  const blob = Buffer.concat([MAGIC, new WireWriter().uint32(1).string(publicBlob).string(namespace).string('').string(hashAlgorithm).string(sig).toBuffer()]);
  const b64 = blob.toString('base64').replace(/(.{70})/g, '$1\n').replace(/\n$/, '');
  return `${BEGIN}\n${b64}\n${END}\n`;
}

export interface ParsedSshsig {
  publicBlob: Buffer;
  namespace: string;
  hashAlgorithm: string;
  signature: Buffer;
}

/** Parses an armored SSHSIG; throws on anything malformed. */
export function parseSshsig(armored: string): ParsedSshsig {
  const text = armored.trim();
  if (!text.startsWith(BEGIN) || !text.endsWith(END)) throw badParameter('not an SSH signature (no BEGIN/END SSH SIGNATURE armor)');
  const blob = Buffer.from(text.slice(BEGIN.length, -END.length).replace(/\s+/g, ''), 'base64');
  if (!blob.subarray(0, 6).equals(MAGIC)) throw badParameter('not an SSH signature (bad magic)');
  const r = new WireReader(blob.subarray(6), 'SSH signature');
  if (r.uint32() !== 1) throw badParameter('unsupported SSH signature version');
  const publicBlob = r.string();
  const namespace = r.text();
  r.string();
  const hashAlgorithm = r.text();
  const sig = new WireReader(r.string(), 'SSH signature');
  if (sig.text() !== ED25519) throw badParameter('unsupported SSH signature algorithm (tollgate signs with ed25519)');
  return { publicBlob: Buffer.from(publicBlob), namespace, hashAlgorithm, signature: Buffer.from(sig.string()) };
}

/**
 * Checks an armored SSHSIG made by `publicBlob` in `namespace` over a message whose digests are given
 * (the caller hashes the message as it streams it). False for any mismatch or malformed signature.
 */
export function verifySshsig(armored: string, publicBlob: Buffer, namespace: string, digests: { sha512?: Buffer; sha256?: Buffer }): boolean {
  let p: ParsedSshsig;
  try {
    p = parseSshsig(armored);
  } catch {
    return false;
  }
  if (!p.publicBlob.equals(publicBlob) || p.namespace !== namespace) return false;
  const digest = p.hashAlgorithm === 'sha512' ? digests.sha512 : p.hashAlgorithm === 'sha256' ? digests.sha256 : undefined;
  if (!digest) return false;
  return crypto.verify(null, signedData(namespace, p.hashAlgorithm, digest), publicKeyFromBlob(publicBlob), p.signature);
}

/** The `allowed_signers` line for a recording key (ssh-keygen(1), ALLOWED SIGNERS). */
export function allowedSignersLine(identity: string, namespace: string, publicKeyLine: string): string {
  return `${identity} namespaces="${namespace}" ${publicKeyLine}`;
}
