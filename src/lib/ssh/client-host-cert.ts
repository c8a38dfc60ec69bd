/*
 * Host certificate verification for an ssh2 Client: the proxy dialling a node
 * (proxy_checks_host_keys) and tsh dialling the proxy (whose ssh2 Server presents a host
 * certificate through hostKeyWithCertificate). What OpenSSH does for an
 * `@cert-authority HOSTS <CA key>` known_hosts line.
 *
 * Usage (one verifier per connection attempt; its lastError() explains a refusal):
 *   const v = hostCertVerifier({ hostCaBlob, hostname: 'node1.example.test', peer: 'node' });
 *   client.on('error', (err) => report(v.describeError(err)));
 *   client.connect({ host, port, username, ...v });   // spreads `algorithms` and `hostVerifier`
 * A caller with its own `algorithms` merges: `algorithms: { ...mine, serverHostKey: v.algorithms.serverHostKey }`.
 * Do not set ssh2's `hostHash`: the verifier needs the key blob, not a fingerprint.
 *
 * Division of labour: ssh2 (with patches/ssh2+1.17.0.patch, constants.js and kex.js) offers the
 * certificate algorithm first, receives the certificate as K_S and verifies the exchange-hash
 * signature with the certificate's subject key; this verifier, which ssh2 calls with K_S before that signature
 * check, decides whether the certificate is acceptable: signed by the cluster's host CA, a host
 * certificate, valid now, and naming exactly the host name dialled as a principal. A server
 * that shows a good certificate but cannot sign with its key fails the signature check.
 */
import type * as Ssh2 from 'ssh2';
import { checkCertificate, parseCertificate, type ParsedCertificate } from '../ca/index.js';
import { badParameter } from '../errors.js';
import { blobAlgorithm, CERT_SIGNATURE_ALGORITHMS } from './cert-keys.js';
import { ssh2Constants } from './ssh2-patch.js';

export interface HostCertVerifierOptions {
  /** The cluster's host CA public key blob (`ssh-ed25519` + 32 bytes). */
  hostCaBlob: Buffer;
  /** The name dialled (host name or address); the certificate must list it as a principal, byte for byte. */
  hostname: string;
  /** Clock for the validity check (default: the system clock). */
  now?: () => Date;
  /**
   * A server that presents a plain key (no certificate) is refused unless this returns true for
   * its key blob (e.g. `() => true` with a logged warning when proxy_checks_host_keys is off,
   * or a known_hosts lookup). Default: refused.
   */
  allowPlainKey?: false | ((keyBlob: Buffer) => boolean);
  /** How refusal reasons name the server: "node", "proxy". Default "server". */
  peer?: string;
}

/** What the server presented in the last key exchange. */
export type PresentedHostKey =
  | { kind: 'certificate'; certificate: ParsedCertificate }
  | { kind: 'plain'; algorithm: string; keyBlob: Buffer };

export interface HostCertVerifier {
  /** ssh2 ConnectConfig.algorithms: the certificate algorithm first, then ssh2's default host key algorithms. */
  readonly algorithms: Ssh2.Algorithms & { serverHostKey: Ssh2.ServerHostKeyAlgorithm[] };
  /** ssh2 ConnectConfig.hostVerifier (synchronous; ssh2 calls it with K_S, the raw key or certificate blob). */
  readonly hostVerifier: (key: Buffer | string) => boolean;
  /** Why the last host key was refused; undefined when it was accepted or none was seen yet. */
  lastError(): string | undefined;
  /** The host key or certificate of the last key exchange (accepted or not). */
  lastHostKey(): PresentedHostKey | undefined;
  /** A user-facing message for a connection error: the refusal reason when the verifier refused, else the error's own message. */
  describeError(err: unknown): string;
}

/** ssh2's error message when a hostVerifier returns false (lib/protocol/kex.js). */
export const HOST_DENIED_MESSAGE = 'Host denied (verification failed)';

/** Certificate algorithms a Client can verify (patches/ssh2+1.17.0.patch, kex.js), preferred over plain keys in this order. */
export const HOST_CERT_ALGORITHMS: readonly string[] = Object.freeze(Object.keys(CERT_SIGNATURE_ALGORITHMS));

/** checkCertificate's reasons, reworded for a host certificate. */
function hostCertReason(reason: string, cert: ParsedCertificate, hostname: string, peer: string): string {
  if (reason === 'certificate is not signed by the trusted certificate authority') return "host certificate is not signed by the cluster's host CA";
  if (reason.startsWith('certificate is a ')) return `${peer} presented a ${cert.type} certificate as its host key, not a host certificate`;
  if (reason === `certificate does not allow "${hostname}"`) {
    return `host certificate does not allow "${hostname}" (it names ${cert.principals.length ? cert.principals.map((p) => JSON.stringify(p)).join(', ') : 'no hosts'})`;
  }
  if (reason === 'certificate has expired') return `host certificate has expired (valid before ${new Date(Number(cert.validBefore) * 1000).toISOString()})`;
  if (reason === 'certificate is not yet valid') return `host certificate is not yet valid (valid after ${new Date(Number(cert.validAfter) * 1000).toISOString()})`;
  return reason.replace(/^certificate /, 'host certificate ');
}

/**
 * An ssh2 Client host key policy that accepts a host certificate signed by `hostCaBlob` for
 * `hostname` (see the header comment).
 */
export function hostCertVerifier(opts: HostCertVerifierOptions): HostCertVerifier {
  const { hostCaBlob, hostname } = opts;
  if (!Buffer.isBuffer(hostCaBlob) || hostCaBlob.length === 0) throw badParameter('hostCertVerifier needs the host CA public key blob');
  if (!hostname) throw badParameter('hostCertVerifier needs the host name being dialled');
  const now = opts.now ?? (() => new Date());
  const peer = opts.peer ?? 'server';
  const allowPlainKey = opts.allowPlainKey ?? false;

  const serverHostKey = [...HOST_CERT_ALGORITHMS, ...ssh2Constants().DEFAULT_SERVER_HOST_KEY.filter((a) => !HOST_CERT_ALGORITHMS.includes(a))];
  let error: string | undefined;
  let presented: PresentedHostKey | undefined;

  const refuse = (reason: string): false => {
    error = reason;
    return false;
  };

  const hostVerifier = (key: Buffer | string): boolean => {
    error = undefined;
    presented = undefined;
    if (!Buffer.isBuffer(key)) return refuse('host key verification got a fingerprint, not a key: do not set ssh2 hostHash with hostCertVerifier');
    let algorithm: string;
    try {
      algorithm = blobAlgorithm(key);
    } catch {
      return refuse(`${peer} presented a malformed host key`);
    }
    if (!HOST_CERT_ALGORITHMS.includes(algorithm)) {
      presented = { kind: 'plain', algorithm, keyBlob: key };
      if (allowPlainKey !== false && allowPlainKey(key)) return true;
      return refuse(`${peer} presented no host certificate (a plain ${algorithm} key)`);
    }
    let cert: ParsedCertificate;
    try {
      cert = parseCertificate(key);
    } catch (err) {
      return refuse(`${peer} presented a malformed host certificate: ${(err as Error).message}`);
    }
    presented = { kind: 'certificate', certificate: cert };
    const reason = checkCertificate(cert, { caPublicBlob: hostCaBlob, type: 'host', now: now(), principal: hostname });
    return reason === undefined ? true : refuse(hostCertReason(reason, cert, hostname, peer));
  };

  return {
    // ssh2's typings list no certificate algorithms; the patch (constants.js) makes ssh2 itself accept the name.
    algorithms: { serverHostKey: serverHostKey as Ssh2.ServerHostKeyAlgorithm[] },
    hostVerifier,
    lastError: () => error,
    lastHostKey: () => presented,
    describeError: (err: unknown) => {
      const message = err instanceof Error ? err.message : String(err);
      return error !== undefined && message === HOST_DENIED_MESSAGE ? `host key verification failed: ${error}` : message;
    },
  };
}
