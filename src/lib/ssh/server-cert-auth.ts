/*
 * Certificate publickey authentication on an ssh2 Server. ssh2 1.17 (lib/protocol/
 * handlers.misc.js USERAUTH_REQUEST, lib/server.js PKAuthContext) verifies nothing itself: it
 * hands the 'authentication' listener
 *   ctx.key.algo   the algorithm from the request ("ssh-ed25519-cert-v01@openssh.com")
 *   ctx.key.data   the key blob from the request (the certificate blob)
 *   ctx.signature  undefined in the query phase; else the signature field. ssh2 strips the
 *                  leading `string format` only when format == ctx.key.algo, which for a
 *                  certificate it never is, so ctx.signature is the whole SSH signature blob:
 *                    string "ssh-ed25519" || string sig (64 bytes)
 *   ctx.blob       the signed data (RFC 4252 §7): string session_id || byte 50 || string user
 *                  || string "ssh-connection" || string "publickey" || bool TRUE
 *                  || string algo || string key_blob
 * This module does what sshd does for TrustedUserCAKeys: checks the certificate (signed by the
 * trusted CA, a user certificate, valid now, the principal) and the user's signature over
 * ctx.blob with the certificate's subject key, under the plain algorithm.
 *
 * Usage in conn.on('authentication', ctx => ...):
 *   if (ctx.method !== 'publickey') return ctx.reject(['publickey']);
 *   const r = verifyUserCertAuth(ctx, { userCaBlob, now: new Date(), principal: ctx.username });
 *   r.ok ? ctx.accept() : ctx.reject(['publickey']);
 * (In the query phase accept() sends USERAUTH_PK_OK; with a signature it logs the user in.)
 */
import crypto from 'node:crypto';
import { checkCertificate, ED25519_CERT, parseCertificate, type ParsedCertificate, ED25519, ed25519Blob, publicKeyFromBlob } from '../ca/index.js';
import { WireReader } from '../wire/index.js';

/** The fields of ssh2's publickey AuthContext that are read (structurally: ssh2's PublicKeyAuthContext fits). */
export interface CertAuthRequest {
  method: string;
  key?: { algo: string; data: Buffer };
  signature?: Buffer;
  blob?: Buffer;
}

export interface CertAuthCheck {
  /** The trusted user CA's public key blob (`ssh-ed25519` + 32 bytes). */
  userCaBlob: Buffer;
  now: Date;
  /** When set, must be one of the certificate's principals (usually ctx.username). */
  principal?: string;
}

export type CertAuthResult =
  | {
      ok: true;
      cert: ParsedCertificate;
      /** True in the query phase: the certificate is acceptable, the client has not signed yet. Reply with ctx.accept() (PK_OK), do not log in. */
      needsSignature: boolean;
    }
  | { ok: false; reason: string };

const ED25519_SIG_LEN = 64;

/** Verifies a certificate publickey request; see the header comment. Never throws on client input. */
export function verifyUserCertAuth(ctx: CertAuthRequest, check: CertAuthCheck): CertAuthResult {
  if (ctx.method !== 'publickey' || !ctx.key) return { ok: false, reason: `not publickey authentication (${ctx.method})` };
  if (ctx.key.algo !== ED25519_CERT) return { ok: false, reason: `not a certificate: ${ctx.key.algo}` };

  let cert: ParsedCertificate;
  try {
    cert = parseCertificate(ctx.key.data);
  } catch (err) {
    return { ok: false, reason: `malformed certificate: ${(err as Error).message}` };
  }
  if (cert.keyType !== ctx.key.algo) return { ok: false, reason: `certificate is ${cert.keyType} but the request says ${ctx.key.algo}` };
  const problem = checkCertificate(cert, { caPublicBlob: check.userCaBlob, type: 'user', now: check.now, principal: check.principal });
  if (problem) return { ok: false, reason: problem };

  if (ctx.signature === undefined) return { ok: true, cert, needsSignature: true };
  if (!ctx.blob) return { ok: false, reason: 'signature without signed data' };

  let format: string;
  let sig: Buffer;
  try {
    const r = new WireReader(ctx.signature, 'signature');
    format = r.text();
    sig = r.string();
    if (!r.atEnd()) return { ok: false, reason: 'malformed signature: trailing data' };
  } catch {
    return { ok: false, reason: 'malformed signature' };
  }
  if (format !== ED25519) return { ok: false, reason: `signature algorithm ${format} does not match the certificate key (${ED25519})` };
  if (sig.length !== ED25519_SIG_LEN) return { ok: false, reason: 'malformed ed25519 signature' };

  let valid = false;
  try {
    valid = crypto.verify(null, ctx.blob, publicKeyFromBlob(ed25519Blob(cert.subjectKey)), sig);
  } catch {
    valid = false;
  }
  if (!valid) return { ok: false, reason: 'signature does not verify with the certificate key' };
  return { ok: true, cert, needsSignature: false };
}
