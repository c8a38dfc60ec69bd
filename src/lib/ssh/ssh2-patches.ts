/*
 * Runtime patches that let ssh2 1.17.0 use OpenSSH certificates. Applied once per process by
 * installSsh2CertPatches() (idempotent; every helper in ssh2-certs.ts calls it), never by editing
 * node_modules. Each patch changes behaviour only for `*-cert-v01@openssh.com` algorithms listed
 * in CERT_SIGNATURE_ALGORITHMS and delegates everything else to ssh2's own code unchanged.
 *
 * The one rule both patches implement (OpenSSH PROTOCOL.certkeys, "Usage"): a certificate is
 * sent where a public key blob goes, under the certificate algorithm name, but a signature made
 * by a certified key is an ordinary signature of the subject key, so the signature blob
 *   string  signature format identifier   ("ssh-ed25519", NOT "ssh-ed25519-cert-v01@openssh.com")
 *   string  signature                     (64 bytes for ed25519, RFC 8709 §6)
 * names the plain algorithm. ssh2 writes the negotiated/offered algorithm name in both places,
 * which OpenSSH rejects ("signature type mismatch" / ssh_ed25519_verify: wrong type).
 *
 * Patches 3 and 4 (ssh2-client-host-cert-patch.ts) are the client's side of host certificates:
 * offering the certificate algorithm, and verifying the key exchange signature with the
 * certificate's subject key. They are installed here, with the others.
 */
import { certSignatureAlgorithm } from './cert-keys.js';
import { allowCertificateHostKeyAlgorithms, finishClientWithHostCertificate } from './ssh2-client-host-cert-patch.js';
import {
  assertSsh2Version,
  keyParser,
  protocolClass,
  protocolUtils,
  SSH_MSG_USERAUTH_REQUEST,
  type AuthPKSign,
  type KeyExchangeInternals,
  type ProtocolInternals,
} from './ssh2-internals.js';
import { WireWriter } from '../wire/index.js';

const INSTALLED = Symbol.for('tollgate.ssh2-cert-patches.installed');
const KEX_PATCHED = Symbol.for('tollgate.ssh2-cert-patches.kex-finish');
const KEX_SLOT = Symbol('tollgate: protocol._kex before the first key exchange');

type Marked = Record<symbol, unknown>;

let installed = false;

/** Applies the ssh2 certificate patches (once; later calls are no-ops). Throws on any ssh2 but 1.17.0. */
export function installSsh2CertPatches(): void {
  if (installed) return;
  assertSsh2Version();
  const Protocol = protocolClass();
  const proto = Protocol.prototype as ProtocolInternals & Marked;
  // A second copy of this module (e.g. src/ and dist/ in one process) must not patch twice.
  if (proto[INSTALLED] !== true) {
    patchClientAuthPK(proto);
    hookKeyExchange(proto);
    allowCertificateHostKeyAlgorithms();
    Object.defineProperty(proto, INSTALLED, { value: true });
  }
  installed = true;
}

/*
 * Patch 1 — replaces ssh2 lib/protocol/Protocol.js `Protocol.prototype.authPK(username, pubKey,
 * keyAlgo, cbSign)` for certificate keys when a signature is sent. ssh2 writes `keyAlgo` (the
 * certificate algorithm) as the signature format identifier; OpenSSH's sshd then fails the
 * signature check. The query phase (no cbSign) is correct in ssh2 and is left to it.
 *
 * RFC 4252 §7, publickey with a signature; the data signed is `string session_id` followed by
 * the request up to and including the key blob:
 *   byte      SSH_MSG_USERAUTH_REQUEST (50)
 *   string    user name
 *   string    "ssh-connection"
 *   string    "publickey"
 *   boolean   TRUE
 *   string    public key algorithm name   ("ssh-ed25519-cert-v01@openssh.com")
 *   string    public key blob             (the certificate blob)
 *   string    signature                   (string "ssh-ed25519" || string sig — see above)
 */
function patchClientAuthPK(proto: ProtocolInternals): void {
  const original = proto.authPK;
  const { parseKey } = keyParser();
  const { sendPacket, convertSignature } = protocolUtils();

  proto.authPK = function authPK(this: ProtocolInternals, username: string, pubKey: unknown, keyAlgo?: string | AuthPKSign, cbSign?: AuthPKSign): void {
    if (typeof keyAlgo === 'function') {
      cbSign = keyAlgo;
      keyAlgo = undefined;
    }
    // parseKey returns a parsed key object unchanged, and an Error for anything it cannot read.
    const parsed = parseKey(pubKey as Buffer | string);
    const key = parsed instanceof Error || Array.isArray(parsed) ? undefined : parsed;
    const requestAlgo = keyAlgo ?? key?.type;
    const sigAlgo = requestAlgo === undefined ? undefined : certSignatureAlgorithm(requestAlgo);
    if (this._server || !cbSign || !key || requestAlgo === undefined || sigAlgo === undefined) {
      original.call(this, username, pubKey, keyAlgo, cbSign);
      return;
    }
    const sessionID = this._kex?.sessionID;
    if (!sessionID) throw new Error('publickey authentication before key exchange');

    const request = new WireWriter()
      .uint8(SSH_MSG_USERAUTH_REQUEST)
      .string(username)
      .string('ssh-connection')
      .string('publickey')
      .uint8(1)
      .string(requestAlgo)
      .string(key.getPublicSSH())
      .toBuffer();
    const signedData = new WireWriter().string(sessionID).raw(request).toBuffer();

    cbSign(signedData, (signature: Buffer) => {
      const sig = convertSignature(signature, sigAlgo);
      if (!sig) throw new Error('Error while converting handshake signature');
      const payload = Buffer.concat([request, new WireWriter().string(new WireWriter().string(sigAlgo).string(sig).toBuffer()).toBuffer()]);
      const writer = this._packetRW.write;
      const start = writer.allocStart;
      const packet = writer.alloc(payload.length);
      payload.copy(packet, start);
      // As ssh2 does: message 60 is decoded by the method at the head of _authsQueue (USERAUTH_PK_OK for publickey).
      this._authsQueue.push('publickey');
      this._debug?.(`Outbound: Sending USERAUTH_REQUEST (publickey, certificate ${requestAlgo}, signature ${sigAlgo})`);
      sendPacket(this, writer.finalize(packet));
    });
  };
}

/*
 * Patch 2 — wraps ssh2 lib/protocol/kex.js `KeyExchange.prototype.finish(scOnly)` on the server
 * side (the same wrapper hands the client side to patch 4). When the negotiated host key
 * algorithm is a certificate (the ssh2 Server got a host key from hostKeyWithCertificate()),
 * ssh2 sends
 *   byte      SSH_MSG_KEX_ECDH_REPLY (31; also KEXDH_REPLY / KEX_DH_GEX_REPLY)
 *   string    K_S, the server host key       (the certificate blob: correct, from getPublicSSH())
 *   string    Q_S / f                         (method-specific)
 *   string    signature of H                  (string format || string sig)
 * with `negotiated.serverHostKey` as the signature format; RFC 5656 §4 / PROTOCOL.certkeys
 * want the plain key algorithm there. finish() builds, signs and sends that reply
 * synchronously, so for the duration of that one call the negotiated name reads as the plain
 * algorithm; it is restored before finish() returns (the server's finish() never completes the
 * handshake synchronously: it waits for the client's NEWKEYS, and then runs as an own-property
 * `completeHandshake`, not through this wrapper).
 *
 * KeyExchange is a class private to kex.js's createKeyExchange closure. Its prototype is
 * reached through the first key exchange object ssh2 stores at `protocol._kex` (kex.js
 * handleKexInit: `self._kex = createKeyExchange(...)`), caught by a temporary accessor on
 * Protocol.prototype. That happens before any finish() runs; the accessor then removes itself,
 * so afterwards `_kex` is again a plain own data property of every Protocol.
 */
function hookKeyExchange(proto: ProtocolInternals): void {
  if (Object.getOwnPropertyDescriptor(proto, '_kex')) throw new Error('unexpected ssh2 layout: Protocol.prototype._kex exists');
  Object.defineProperty(proto, '_kex', {
    configurable: true,
    enumerable: false,
    get(this: Marked): unknown {
      return this[KEX_SLOT];
    },
    set(this: Marked, value: unknown) {
      if (typeof value === 'object' && value !== null) {
        patchKeyExchangeFinish(value as KeyExchangeInternals);
        delete (proto as Partial<ProtocolInternals>)._kex;
        delete this[KEX_SLOT];
        Object.defineProperty(this, '_kex', { value, writable: true, configurable: true, enumerable: true });
      } else {
        // Protocol's constructor sets `this._kex = undefined`; keep the accessor in charge.
        this[KEX_SLOT] = value;
      }
    },
  });
}

function patchKeyExchangeFinish(kex: KeyExchangeInternals): void {
  let owner: object | null = Object.getPrototypeOf(kex) as object | null;
  while (owner && !Object.hasOwn(owner, 'finish')) owner = Object.getPrototypeOf(owner) as object | null;
  if (!owner) throw new Error('unexpected ssh2 layout: no KeyExchange.prototype.finish');
  const target = owner as KeyExchangeInternals & Marked;
  if (target[KEX_PATCHED] === true) return;
  const original = target.finish;
  target.finish = function finish(this: KeyExchangeInternals, scOnly?: boolean): unknown {
    const negotiated = this.negotiated;
    const algo = negotiated.serverHostKey;
    const plain = !this._finished ? certSignatureAlgorithm(algo) : undefined;
    if (plain === undefined) return original.call(this, scOnly);
    // Client: patch 4 (ssh2-client-host-cert-patch.ts) verifies with the certificate's subject key.
    if (!this._protocol._server) return finishClientWithHostCertificate(this, original, scOnly, plain);
    negotiated.serverHostKey = plain;
    try {
      return original.call(this, scOnly);
    } finally {
      negotiated.serverHostKey = algo;
    }
  };
  Object.defineProperty(target, KEX_PATCHED, { value: true });
}
