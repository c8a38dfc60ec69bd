/*
 * ssh2 key objects for OpenSSH certificates. ssh2 1.17's key parser (lib/protocol/keyParser.js
 * parseKey/parseDER) has no certificate support: a binary `*-cert-v01@openssh.com` blob is
 * refused, and the text form is "parsed" by reading the certificate's nonce as if it were the
 * key. So these helpers start from a key ssh2 does understand (the certificate's plain subject
 * key) and give that object the certificate's algorithm name and blob:
 *
 *   key.type           = "ssh-ed25519-cert-v01@openssh.com"   (the algorithm ssh2 writes on the wire)
 *   key.getPublicSSH() = the whole certificate blob          (what goes where a key blob goes)
 *   sign()/verify()    = unchanged: the subject key           (a certificate signs with its key)
 *
 * ssh2 only ever asks a key object for `type`, `getPublicSSH()`, `sign()`/`verify()` and
 * `getPrivatePEM()`, so the object is accepted everywhere a parsed key is (isParsedKey checks a
 * private symbol set by the parser, which the subject key has).
 *
 * Certificate blob layout: PROTOCOL.certkeys, see ../ca/certificate.ts.
 */
import crypto, { type KeyObject } from 'node:crypto';
import { ED25519_CERT, parseCertificate, type ParsedCertificate, ed25519Blob, rawEd25519Public } from '../ca/index.js';
import { badParameter } from '../errors.js';
import { keyParser, type Ssh2Key } from './ssh2-internals.js';
import { WireReader, WireWriter } from '../wire/index.js';

/**
 * Certificate algorithm → the plain signature algorithm used inside its signatures
 * (PROTOCOL.certkeys: "the signature ... is made using the [certified] key", so the signature
 * blob names the plain algorithm; OpenSSH's ssh_ed25519_verify refuses any other name).
 * Only ed25519 is supported: tollgate's CA issues nothing else, and an RSA certificate would
 * need rsa-sha2-* negotiation that ssh2 does not do for certificates.
 */
export const CERT_SIGNATURE_ALGORITHMS: Readonly<Record<string, string>> = Object.freeze({
  [ED25519_CERT]: 'ssh-ed25519',
});

/** The plain signature algorithm for a supported certificate algorithm, else undefined. */
export function certSignatureAlgorithm(algo: string): string | undefined {
  return Object.hasOwn(CERT_SIGNATURE_ALGORITHMS, algo) ? CERT_SIGNATURE_ALGORITHMS[algo] : undefined;
}

/** The algorithm name at the start of a key or certificate blob. */
export function blobAlgorithm(blob: Buffer): string {
  return new WireReader(blob, 'public key').text();
}

function asSingleKey(parsed: Ssh2Key | Ssh2Key[] | Error, what: string): Ssh2Key {
  if (parsed instanceof Error) throw badParameter(`ssh2 cannot read ${what}: ${parsed.message}`);
  const key = Array.isArray(parsed) ? parsed[0] : parsed;
  if (!key) throw badParameter(`ssh2 cannot read ${what}`);
  return key;
}

/** Gives an ssh2 key object the identity of a certificate (see the header comment). */
function dressAsCertificate(key: Ssh2Key, cert: ParsedCertificate, comment?: string): Ssh2Key {
  const blob = Buffer.from(cert.blob);
  key.type = cert.keyType;
  key.getPublicSSH = () => blob;
  if (comment !== undefined) key.comment = comment;
  return key;
}

/** A public ssh2 key object for a certificate blob (what an agent's identity list yields). */
export function certPublicKey(certBlob: Buffer, comment = ''): Ssh2Key {
  const cert = parseCertificate(certBlob);
  const subject = asSingleKey(keyParser().parseKey(ed25519Blob(cert.subjectKey)), 'the certificate subject key');
  return dressAsCertificate(subject, cert, comment);
}

/**
 * The ed25519 private key as an unencrypted openssh-key-v1 file (OpenSSH PROTOCOL.key):
 *   "openssh-key-v1\0" | string "none" (cipher) | string "none" (kdf) | string "" (kdf options)
 *   | uint32 1 | string public_blob
 *   | string ( uint32 check | uint32 check | string "ssh-ed25519" | string A | string k‖A
 *              | string comment | padding 1,2,3... to a multiple of 8 )
 * Built here, synchronously, because ssh2 cannot read PKCS#8 ed25519 keys.
 */
export function openSshPrivateKeyText(privateKey: KeyObject, comment = ''): string {
  const jwk = privateKey.export({ format: 'jwk' });
  if (jwk.crv !== 'Ed25519' || !jwk.d) throw badParameter('not an ed25519 private key');
  const seed = Buffer.from(jwk.d, 'base64url');
  const pub = rawEd25519Public(privateKey);
  const check = crypto.randomBytes(4).readUInt32BE();
  const priv = new WireWriter()
    .uint32(check)
    .uint32(check)
    .string('ssh-ed25519')
    .string(pub)
    .string(Buffer.concat([seed, pub]))
    .string(comment)
    .toBuffer();
  const padLen = (8 - (priv.length % 8)) % 8;
  const padding = Buffer.from(Array.from({ length: padLen }, (_, i) => i + 1));
  const body = new WireWriter()
    .raw(Buffer.from('openssh-key-v1\0', 'binary'))
    .string('none')
    .string('none')
    .string(Buffer.alloc(0))
    .uint32(1)
    .string(ed25519Blob(pub))
    .string(Buffer.concat([priv, padding]))
    .toBuffer();
  const b64 = body.toString('base64').replace(/.{1,70}/g, '$&\n');
  return `-----BEGIN OPENSSH PRIVATE KEY-----\n${b64}-----END OPENSSH PRIVATE KEY-----\n`;
}

/** An ssh2 private key object for a plain ed25519 KeyObject (e.g. a plain host key beside a certified one). */
export function ssh2PrivateKey(privateKey: KeyObject, comment = ''): Ssh2Key {
  const key = asSingleKey(keyParser().parseKey(openSshPrivateKeyText(privateKey, comment)), 'the ed25519 private key');
  if (!key.isPrivateKey()) throw badParameter('ssh2 did not read a private key');
  return key;
}

/**
 * An ssh2 private key object that presents `certBlob` and signs with `privateKey`. Usable as a
 * Server host key (see host-cert.ts) and as a Client `publickey` key through an authHandler.
 * Throws when the certificate does not certify this key.
 */
export function certifiedKey(privateKey: KeyObject, certBlob: Buffer, comment = ''): Ssh2Key {
  const cert = parseCertificate(certBlob);
  if (!cert.subjectKey.equals(rawEd25519Public(privateKey))) throw badParameter('the certificate does not certify this private key');
  return dressAsCertificate(ssh2PrivateKey(privateKey, comment), cert);
}
