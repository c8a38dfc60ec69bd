/*
 * Host certificates on an ssh2 Server. A host that presents a certificate signed by the host CA
 * is trusted by OpenSSH clients through one known_hosts line (`@cert-authority HOSTS <CA key>`)
 * instead of a per-host key; the proxy needs that to be a drop-in for sshd.
 *
 * ssh2 1.17's Server takes `hostKeys` entries through keyParser.parseKey and indexes them by
 * `key.type` (lib/server.js Server constructor: `hostKeys[privateKey.type] = privateKey`,
 * offered in KEXINIT in that order). A certified key object (cert-keys.ts certifiedKey) has
 * type "ssh-ed25519-cert-v01@openssh.com", so ssh2 offers and negotiates the certificate
 * algorithm and sends the certificate as K_S. The signature in the key exchange reply must
 * then name the plain "ssh-ed25519": patches/ssh2+1.17.0.patch (kex.js, server side).
 *
 * Usage:
 *   new Server({ hostKeys: [hostKeyWithCertificate(key, certBlob), plainHostKey(key)] }, ...)
 * The plain entry serves clients that do not ask for the certificate algorithm.
 */
import type { KeyObject } from 'node:crypto';
import type * as Ssh2 from 'ssh2';
import { parseCertificate } from '../ca/index.js';
import { badParameter } from '../errors.js';
import { certifiedKey, ssh2PrivateKey } from './cert-keys.js';

/** A `hostKeys` entry for an ssh2 Server that presents `certBlob` (an ed25519 host certificate for `privateKey`). */
export function hostKeyWithCertificate(privateKey: KeyObject, certBlob: Buffer): Ssh2.EncryptedPrivateKey {
  if (parseCertificate(certBlob).type !== 'host') throw badParameter('a host key needs a host certificate, not a user certificate');
  // ssh2's typings know no certificate algorithm names; the object is an ssh2 key otherwise.
  return { key: certifiedKey(privateKey, certBlob) as unknown as Ssh2.ParsedKey };
}

/** A `hostKeys` entry for the same ed25519 key without the certificate (ssh2 cannot read PKCS#8 ed25519). */
export function plainHostKey(privateKey: KeyObject): Ssh2.EncryptedPrivateKey {
  return { key: ssh2PrivateKey(privateKey) as unknown as Ssh2.ParsedKey };
}
