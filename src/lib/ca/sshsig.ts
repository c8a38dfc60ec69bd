import crypto, { type KeyObject } from 'node:crypto';
import { WireWriter } from '../ssh/wire.js';
import { ED25519 } from './keys.js';

/*
 * OpenSSH's detached signature format, PROTOCOL.sshsig:
 *   signed data:  byte[6] "SSHSIG" || string namespace || string reserved || string hash_algorithm || string H(message)
 *   blob:         byte[6] "SSHSIG" || uint32 1 || string publickey || string namespace || string reserved
 *                 || string hash_algorithm || string signature   (signature = string "ssh-ed25519" || string sig)
 *   armor:        "-----BEGIN SSH SIGNATURE-----", base64 of the blob in 70-column lines, "-----END SSH SIGNATURE-----"
 * so `ssh-keygen -Y verify -f allowed_signers -I IDENTITY -n NAMESPACE -s FILE.sig < FILE` checks it.
 */
const MAGIC = Buffer.from('SSHSIG');

/** Signs a message given its SHA-512 digest (computed as the message was written). */
export function signSshsig(privateKey: KeyObject, publicBlob: Buffer, namespace: string, sha512: Buffer): string {
  const signed = Buffer.concat([MAGIC, new WireWriter().string(namespace).string('').string('sha512').string(sha512).toBuffer()]);
  const sig = new WireWriter().string(ED25519).string(crypto.sign(null, signed, privateKey)).toBuffer();
  const blob = Buffer.concat([MAGIC, new WireWriter().uint32(1).string(publicBlob).string(namespace).string('').string('sha512').string(sig).toBuffer()]);
  const b64 = blob.toString('base64').replace(/(.{70})/g, '$1\n').replace(/\n$/, '');
  return `-----BEGIN SSH SIGNATURE-----\n${b64}\n-----END SSH SIGNATURE-----\n`;
}

/** The `allowed_signers` line for a recording key (ssh-keygen(1), ALLOWED SIGNERS). */
export function allowedSignersLine(identity: string, namespace: string, publicKeyLine: string): string {
  return `${identity} namespaces="${namespace}" ${publicKeyLine}`;
}
