/*
 * Client-side runtime patches that let an ssh2 1.17.0 Client accept an OpenSSH host certificate
 * (the server's half is ssh2-patches.ts patch 2). Installed by installSsh2CertPatches() together
 * with the other patches (once per process, ssh2 version pinned); the API on top is
 * client-host-cert.ts hostCertVerifier().
 *
 * What has to happen on the wire (OpenSSH PROTOCOL.certkeys, "Usage"; RFC 4253 §8, RFC 5656 §4,
 * RFC 8731 §3): the client offers "ssh-ed25519-cert-v01@openssh.com" in KEXINIT's
 * server_host_key_algorithms; when it is negotiated, the server's reply is
 *   byte      SSH_MSG_KEX_ECDH_REPLY (31; also KEXDH_REPLY / KEX_DH_GEX_REPLY)
 *   string    K_S, the server host key        the certificate blob, hashed into H as is
 *   string    Q_S / f                          (method-specific)
 *   string    signature of H                   string "ssh-ed25519" || string sig (64 bytes)
 * i.e. H covers the certificate, but the signature is an ordinary ssh-ed25519 signature made by
 * the certificate's subject key and names the plain algorithm. Whether the certificate itself is
 * acceptable (CA, type, validity, principal) is the application's hostVerifier's business: ssh2
 * hands it the raw K_S (the certificate blob) unchanged.
 */
import { createRequire } from 'node:module';
import { parseCertificate, type ParsedCertificate } from '../ca/certificate.js';
import { ed25519Blob } from '../ca/keys.js';
import { CERT_SIGNATURE_ALGORITHMS } from './cert-keys.js';
import { protocolUtils, type KeyExchangeInternals, type ProtocolInternals } from './ssh2-internals.js';
import { WireReader, WireWriter } from '../wire/index.js';

const require = createRequire(import.meta.url);

/** lib/protocol/constants.js (the lists client.js and server.js validate configured algorithms against). */
interface ConstantsModule {
  DEFAULT_SERVER_HOST_KEY: string[];
  SUPPORTED_SERVER_HOST_KEY: string[];
  DISCONNECT_REASON: { KEY_EXCHANGE_FAILED: number };
}

/** The client-side KeyExchange fields finish() reads (lib/protocol/kex.js KeyExchange). */
interface ClientKeyExchange extends KeyExchangeInternals {
  /** K_S exactly as received in the KEX*_REPLY. */
  _hostKey: Buffer | undefined;
  /** The reply's "signature of H" blob: string format || string signature. */
  _sig: Buffer | undefined;
  getPublicKey(): Buffer | undefined;
}

/** lib/protocol/utils.js doFatalError(protocol, msg, level, reason): disconnects and emits the error. */
type DoFatalError = (protocol: ProtocolInternals, msg: string, level: string, reason: number) => unknown;

function constants(): ConstantsModule {
  return require('ssh2/lib/protocol/constants.js') as ConstantsModule;
}

/** ssh2's default host key algorithm list, in its order (a copy). */
export function defaultServerHostKeyAlgorithms(): string[] {
  return [...constants().DEFAULT_SERVER_HOST_KEY];
}

/*
 * Patch 3 — ssh2 lib/protocol/constants.js SUPPORTED_SERVER_HOST_KEY. lib/client.js's
 * constructor-time config check (`generateAlgorithmList(cfg.algorithms.serverHostKey,
 * DEFAULT_SERVER_HOST_KEY, SUPPORTED_SERVER_HOST_KEY)`, lib/utils.js) throws "Unsupported
 * algorithm" for any name not in that array, so a Client could not offer the certificate
 * algorithm at all. client.js and server.js destructure the very array object from
 * constants.js, so appending to it in place is seen by both. DEFAULT_SERVER_HOST_KEY is left
 * alone: nothing offers a certificate algorithm unless its config names it (the Server already
 * offers it when it has a certified host key: host-cert.ts). Idempotent.
 */
export function allowCertificateHostKeyAlgorithms(): void {
  const supported = constants().SUPPORTED_SERVER_HOST_KEY;
  if (!Array.isArray(supported)) throw new Error('unexpected ssh2 layout: constants.SUPPORTED_SERVER_HOST_KEY is not an array');
  for (const algo of Object.keys(CERT_SIGNATURE_ALGORITHMS)) if (!supported.includes(algo)) supported.push(algo);
}

/*
 * Patch 4 — the client side of ssh2 lib/protocol/kex.js `KeyExchange.prototype.finish(scOnly)`,
 * called by ssh2-patches.ts's finish wrapper when the negotiated host key algorithm is a
 * certificate algorithm and this is a client. ssh2's client branch of finish():
 *   1. hashes K_S = `this._hostKey` (the certificate blob: correct) into H, then the client's
 *      own ephemeral key from `this.getPublicKey()`, the server's, and K;
 *   2. reads `this._sig` and fails unless its format equals `negotiated.serverHostKey`
 *      ("Wrong signature type": the cert name is expected, "ssh-ed25519" arrives);
 *   3. parses `this._hostKey` with parseDERKey(rest, name), which knows no certificate types
 *      ("Unsupported OpenSSH public key type"), and verifies the signature with that key.
 * This patch keeps ssh2's own hashing and verification and changes only their inputs, for the
 * duration of the one call:
 *   - the signature format is checked here against the plain algorithm (OpenSSH's
 *     ssh_ed25519_verify insists on "ssh-ed25519" too), then `_sig` is relabelled with the
 *     negotiated name so step 2 passes; the signature bytes are untouched;
 *   - `getPublicKey` gets a one-shot own-property hook: it runs after K_S is in the hash (step 1
 *     order in kex.js 1.17.0: K_S, [GEX params], client key via getPublicKey(), server key, K)
 *     and swaps `_hostKey` to the subject key blob (string "ssh-ed25519" || string pk), so step 3
 *     parses and verifies with the certificate's subject key.
 * If that order ever changed, H would be computed over the subject key instead of the
 * certificate and the signature check would fail: the patch fails closed.
 * `negotiated` is not modified (the client completes the handshake synchronously inside
 * finish() and emits 'handshake' with that object).
 */
export function finishClientWithHostCertificate(kex: KeyExchangeInternals, original: (this: KeyExchangeInternals, scOnly?: boolean) => unknown, scOnly: boolean | undefined, plainAlgo: string): unknown {
  const exchange = kex as ClientKeyExchange;
  const protocol = exchange._protocol;
  const negotiatedAlgo = exchange.negotiated.serverHostKey;
  const fatal = (msg: string): unknown => {
    exchange._finished = true; // as ssh2's finish() does first: this exchange is over
    const { doFatalError } = protocolUtils() as unknown as { doFatalError: DoFatalError };
    return doFatalError(protocol, `Handshake failed: ${msg}`, 'handshake', constants().DISCONNECT_REASON.KEY_EXCHANGE_FAILED);
  };

  const certBlob = exchange._hostKey;
  const sigBlob = exchange._sig;
  if (!Buffer.isBuffer(certBlob) || !Buffer.isBuffer(sigBlob)) return fatal('no host key or signature in the key exchange reply');

  let sigFormat: string;
  let sigValue: Buffer;
  try {
    const r = new WireReader(sigBlob, 'host key signature');
    sigFormat = r.text();
    sigValue = r.string();
  } catch {
    return fatal('malformed host key signature');
  }
  if (sigFormat !== plainAlgo) return fatal(`host certificate signature is ${JSON.stringify(sigFormat)}, expected ${plainAlgo} (PROTOCOL.certkeys)`);

  let cert: ParsedCertificate;
  try {
    cert = parseCertificate(certBlob);
  } catch (err) {
    return fatal(`malformed host certificate: ${(err as Error).message}`);
  }
  if (cert.keyType !== negotiatedAlgo) return fatal(`host key is ${cert.keyType}, negotiated ${negotiatedAlgo}`);
  const subjectBlob = ed25519Blob(cert.subjectKey);

  exchange._sig = new WireWriter().string(negotiatedAlgo).string(sigValue).toBuffer();
  // In ssh2 getPublicKey lives on the exchange class's prototype; an own property is kept as it was.
  const ownGetPublicKey = Object.getOwnPropertyDescriptor(exchange, 'getPublicKey');
  const realGetPublicKey = exchange.getPublicKey;
  let hooked = true;
  const unhook = (): void => {
    if (!hooked) return;
    hooked = false;
    if (ownGetPublicKey) Object.defineProperty(exchange, 'getPublicKey', ownGetPublicKey);
    else delete (exchange as Partial<ClientKeyExchange>).getPublicKey;
  };
  Object.defineProperty(exchange, 'getPublicKey', {
    configurable: true,
    writable: true,
    enumerable: false,
    value: function getPublicKey(this: ClientKeyExchange): Buffer | undefined {
      unhook();
      this._hostKey = subjectBlob;
      return realGetPublicKey.call(this);
    },
  });
  try {
    return original.call(exchange, scOnly);
  } finally {
    unhook();
    // ssh2 clears _hostKey/_sig when the handshake completes; otherwise put K_S back as received.
    if (exchange._hostKey === subjectBlob) exchange._hostKey = certBlob;
  }
}
