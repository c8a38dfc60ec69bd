import { WireWriter } from '../wire/index.js';

/*
 * OpenSSH Key Revocation List, encoded per OpenSSH PROTOCOL.krl (sshd's RevokedKeys reads it;
 * `ssh-keygen -Q -f KRL cert.pub` checks a certificate against it). Only the certificate section
 * is written, unsigned (sshd does not require a KRL signature):
 *
 *   uint64 KRL_MAGIC (0x5353484b524c0a00)   uint32 KRL_FORMAT_VERSION (1)
 *   uint64 krl_version   uint64 generated_date   uint64 flags (0)
 *   string reserved ("")   string comment
 *   then sections: byte section_type || string section_data
 *
 *   KRL_SECTION_CERTIFICATES (1): string ca_key || string reserved ("")
 *     then subsections: byte cert_section_type || string cert_section_data
 *     KRL_SECTION_CERT_SERIAL_LIST (0x20): uint64 serial, repeated (ascending, none zero)
 *     KRL_SECTION_CERT_KEY_ID (0x23): string key_id, repeated
 */
const KRL_MAGIC = 0x5353484b524c0a00n;
const KRL_FORMAT_VERSION = 1;
const KRL_SECTION_CERTIFICATES = 1;
const KRL_SECTION_CERT_SERIAL_LIST = 0x20;
const KRL_SECTION_CERT_KEY_ID = 0x23;

export interface KrlSpec {
  /** The CA's public key blob: only certificates it signed are revoked. */
  caKeyBlob: Buffer;
  /** Revoked certificate serials (duplicates and zero are dropped). */
  serials: readonly bigint[];
  /** Revoked key ids: every certificate with one of these (a user's certificates). */
  keyIds: readonly string[];
  /** Seconds since the epoch: the KRL's version and generation date. */
  generatedAt: number;
  comment?: string;
}

/** Encodes a KRL revoking certificates of one CA by serial and key id. */
export function encodeKrl(spec: KrlSpec): Buffer {
  const serials = [...new Set(spec.serials.filter((s) => s > 0n))].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const keyIds = [...new Set(spec.keyIds)].sort();
  const certs = new WireWriter().string(spec.caKeyBlob).string('');
  if (serials.length > 0) {
    const list = new WireWriter();
    for (const s of serials) list.uint64(s);
    certs.uint8(KRL_SECTION_CERT_SERIAL_LIST).string(list.toBuffer());
  }
  if (keyIds.length > 0) {
    const list = new WireWriter();
    for (const k of keyIds) list.string(k);
    certs.uint8(KRL_SECTION_CERT_KEY_ID).string(list.toBuffer());
  }
  const when = BigInt(Math.max(0, Math.floor(spec.generatedAt)));
  return new WireWriter()
    .uint64(KRL_MAGIC)
    .uint32(KRL_FORMAT_VERSION)
    .uint64(when)
    .uint64(when)
    .uint64(0n)
    .string('')
    .string(spec.comment ?? '')
    .uint8(KRL_SECTION_CERTIFICATES)
    .string(certs.toBuffer())
    .toBuffer();
}
