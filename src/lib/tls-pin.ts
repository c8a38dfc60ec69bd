import crypto from 'node:crypto';

/*
 * A pin on a TLS server's public key, as Teleport's `--ca-pin` pins its CA: `sha256:` and the hex
 * SHA-256 of the certificate's SubjectPublicKeyInfo (DER). The key, not the whole certificate, so
 * a re-issued certificate for the same key keeps its pin.
 */
export const PIN_PREFIX = 'sha256:';

/** The pin of a certificate (PEM text or DER bytes). */
export function tlsPublicKeyPin(cert: string | Buffer): string {
  const spki = new crypto.X509Certificate(cert).publicKey.export({ type: 'spki', format: 'der' });
  return `${PIN_PREFIX}${crypto.createHash('sha256').update(spki).digest('hex')}`;
}

/** Whether `text` is a well-formed pin. */
export function isTlsPin(text: string): boolean {
  return /^sha256:[0-9a-f]{64}$/.test(text);
}

/**
 * Reads a pin typed by a person (`--fingerprint`, `--ca-pin`): `sha256:` or `SHA256:` and 64 hex
 * digits in either case, normalised to the form tlsPublicKeyPin() prints. Undefined when malformed.
 */
export function parseTlsPin(text: string): string | undefined {
  const m = /^sha256:([0-9a-f]{64})$/i.exec(text.trim());
  return m ? `${PIN_PREFIX}${m[1]!.toLowerCase()}` : undefined;
}
