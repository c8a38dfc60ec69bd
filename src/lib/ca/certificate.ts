import { randomFromPool } from './random-pool.js';
import crypto, { type KeyObject } from 'node:crypto';
import { badParameter } from '../errors.js';
import { WireReader, WireWriter } from '../wire/index.js';
import { ED25519, publicKeyFromBlob } from './keys.js';

/*
 * OpenSSH certificates, PROTOCOL.certkeys §"Certified keys" (ed25519 subject):
 *   string    "ssh-ed25519-cert-v01@openssh.com"
 *   string    nonce
 *   string    pk                      (32 bytes)
 *   uint64    serial
 *   uint32    type                    (1 = SSH_CERT_TYPE_USER, 2 = SSH_CERT_TYPE_HOST)
 *   string    key id
 *   string    valid principals        (a packed sequence of strings)
 *   uint64    valid after             (seconds since the epoch)
 *   uint64    valid before
 *   string    critical options        (packed (string name, string data) pairs, sorted by name)
 *   string    extensions              (same packing, sorted by name)
 *   string    reserved
 *   string    signature key           (the CA's public key blob)
 *   string    signature               (over every preceding byte)
 * An option's data is itself a string holding the value (`source-address` → string "cidr,cidr");
 * flag extensions (permit-pty, ...) have empty data.
 */
export const ED25519_CERT = 'ssh-ed25519-cert-v01@openssh.com';
export const CERT_FOREVER = 0xffff_ffff_ffff_ffffn;

export type CertType = 'user' | 'host';

export interface CertificateFields {
  type: CertType;
  /** Raw 32-byte ed25519 public key of the subject. */
  subjectKey: Buffer;
  serial: bigint;
  keyId: string;
  principals: readonly string[];
  /** Seconds since the epoch. */
  validAfter: bigint;
  validBefore: bigint;
  criticalOptions: Readonly<Record<string, string>>;
  /** Flag extensions map to "". */
  extensions: Readonly<Record<string, string>>;
}

export interface ParsedCertificate extends CertificateFields {
  keyType: string;
  nonce: Buffer;
  /** The CA public key blob that signed it. */
  signatureKey: Buffer;
  signatureAlgo: string;
  signature: Buffer;
  /** Every byte the signature covers. */
  signedData: Buffer;
  /** The whole certificate blob. */
  blob: Buffer;
}

function packStrings(items: readonly string[]): Buffer {
  const w = new WireWriter();
  for (const s of items) w.string(s);
  return w.toBuffer();
}

function packOptions(opts: Readonly<Record<string, string>>): Buffer {
  const w = new WireWriter();
  for (const name of Object.keys(opts).sort()) {
    const value = opts[name]!;
    w.string(name).string(value === '' ? Buffer.alloc(0) : new WireWriter().string(value).toBuffer());
  }
  return w.toBuffer();
}

function unpackOptions(data: Buffer, what: string): Record<string, string> {
  const r = new WireReader(data, what);
  const out: Record<string, string> = {};
  while (!r.atEnd()) {
    const name = r.text();
    const inner = r.string();
    out[name] = inner.length === 0 ? '' : new WireReader(inner, what).text();
  }
  return out;
}

/** The bytes a CA signs. */
export function encodeToBeSigned(fields: CertificateFields, caPublicBlob: Buffer, nonce: Buffer): Buffer {
  if (fields.subjectKey.length !== 32) throw badParameter('certificate subject must be a 32-byte ed25519 key');
  return new WireWriter()
    .string(ED25519_CERT)
    .string(nonce)
    .string(fields.subjectKey)
    .uint64(fields.serial)
    .uint32(fields.type === 'user' ? 1 : 2)
    .string(fields.keyId)
    .string(packStrings(fields.principals))
    .uint64(fields.validAfter)
    .uint64(fields.validBefore)
    .string(packOptions(fields.criticalOptions))
    .string(packOptions(fields.extensions))
    .string(Buffer.alloc(0))
    .string(caPublicBlob)
    .toBuffer();
}

/** Signs a certificate with an ed25519 CA key; returns the certificate blob. */
export function signCertificate(fields: CertificateFields, caKey: KeyObject, caPublicBlob: Buffer): Buffer {
  const tbs = encodeToBeSigned(fields, caPublicBlob, randomFromPool(32));
  const sig = crypto.sign(null, tbs, caKey);
  return Buffer.concat([tbs, new WireWriter().string(new WireWriter().string(ED25519).string(sig).toBuffer()).toBuffer()]);
}

export function parseCertificate(blob: Buffer): ParsedCertificate {
  const r = new WireReader(blob, 'certificate');
  const keyType = r.text();
  if (keyType !== ED25519_CERT) throw badParameter(`unsupported certificate type ${keyType}`, 'tollgate certificates are ssh-ed25519-cert-v01@openssh.com');
  const nonce = r.string();
  const subjectKey = r.string();
  if (subjectKey.length !== 32) throw badParameter('malformed certificate: bad ed25519 key length');
  const serial = r.uint64();
  const typeNum = r.uint32();
  if (typeNum !== 1 && typeNum !== 2) throw badParameter(`malformed certificate: unknown type ${typeNum}`);
  const keyId = r.text();
  const pr = new WireReader(r.string(), 'certificate principals');
  const principals: string[] = [];
  while (!pr.atEnd()) principals.push(pr.text());
  const validAfter = r.uint64();
  const validBefore = r.uint64();
  const criticalOptions = unpackOptions(r.string(), 'certificate critical options');
  const extensions = unpackOptions(r.string(), 'certificate extensions');
  r.string(); // reserved
  const signatureKey = r.string();
  const signedData = blob.subarray(0, r.offset);
  const sr = new WireReader(r.string(), 'certificate signature');
  const signatureAlgo = sr.text();
  const signature = sr.string();
  if (!r.atEnd()) throw badParameter('malformed certificate: trailing data');
  return {
    type: typeNum === 1 ? 'user' : 'host',
    keyType, nonce, subjectKey, serial, keyId, principals, validAfter, validBefore,
    criticalOptions, extensions, signatureKey, signatureAlgo, signature, signedData, blob,
  };
}

/** True when the certificate's signature verifies under the key it names (ed25519 CAs only). */
export function verifyCertificateSignature(cert: ParsedCertificate): boolean {
  if (cert.signatureAlgo !== ED25519) return false;
  try {
    return crypto.verify(null, cert.signedData, publicKeyFromBlob(cert.signatureKey), cert.signature);
  } catch {
    return false;
  }
}

export interface CertCheck {
  /** The trusted CA's public key blob. */
  caPublicBlob: Buffer;
  type: CertType;
  now: Date;
  /** When set, must be one of the certificate's principals. */
  principal?: string;
}

/**
 * Everything a relying party checks before trusting a certificate; returns the reason it is not
 * acceptable, or undefined. `source-address` is deliberately not checked here: only the node's
 * sshd knows where the connection comes from.
 */
export function checkCertificate(cert: ParsedCertificate, check: CertCheck): string | undefined {
  if (!cert.signatureKey.equals(check.caPublicBlob)) return 'certificate is not signed by the trusted certificate authority';
  if (!verifyCertificateSignature(cert)) return 'certificate signature is invalid';
  if (cert.type !== check.type) return `certificate is a ${cert.type} certificate, not a ${check.type} certificate`;
  const now = BigInt(Math.floor(check.now.getTime() / 1000));
  if (now < cert.validAfter) return 'certificate is not yet valid';
  if (now >= cert.validBefore) return 'certificate has expired';
  if (check.principal !== undefined && !cert.principals.includes(check.principal)) return `certificate does not allow "${check.principal}"`;
  return undefined;
}

/** The `.pub` line OpenSSH reads from `-cert.pub` files. */
export function certificateLine(blob: Buffer, comment?: string): string {
  return `${ED25519_CERT} ${blob.toString('base64')}${comment ? ` ${comment}` : ''}`;
}
