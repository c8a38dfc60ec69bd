import os from 'node:os';
import type * as Ssh2 from 'ssh2';
import type { CertAuthority } from '../ca/index.js';
import { generateEd25519, type Ed25519KeyPair } from '../ca/index.js';
import type { Clock } from '../clock.js';
import { isWildcardHost, type HostPort } from '../address.js';
import { hostKeyWithCertificate, plainHostKey } from '../ssh/index.js';

/** The proxy's own certificate lives a week and is renewed daily, in place, while it runs. */
const PROXY_CERT_TTL_MS = 7 * 24 * 3_600_000;
export const PROXY_CERT_RENEW_MS = 24 * 3_600_000;
const NODE_CERT_TTL_MS = 2 * 3_600_000;
const NODE_CERT_REUSE_MS = 3_600_000;

/** Every name the proxy can be reached at (DESIGN.md, host trust). */
export function proxyPrincipals(listen: HostPort, publicAddrs: readonly HostPort[], hostname: string): string[] {
  const names = new Set<string>([hostname, 'localhost', '127.0.0.1', '::1']);
  for (const a of publicAddrs) names.add(a.host);
  if (isWildcardHost(listen.host)) {
    for (const list of Object.values(os.networkInterfaces())) for (const i of list ?? []) names.add(i.address);
  } else {
    names.add(listen.host);
  }
  return [...names];
}

/**
 * Host keys the proxy presents: its own certificate on the outer connection, and for the nested
 * `ssh -J` connection a certificate for the dialled node name, signed on the fly by the host CA so
 * clients that trust `@cert-authority` connect without prompts.
 */
export class HostCertificates {
  private readonly key: Ed25519KeyPair = generateEd25519();
  private readonly cache = new Map<string, { keys: Ssh2.EncryptedPrivateKey[]; until: number }>();

  constructor(
    private readonly hostCa: CertAuthority,
    private readonly clock: Clock,
  ) {}

  private renewal: NodeJS.Timeout | undefined;

  /**
   * The proxy's host keys. ssh2 reads the certificate from the key object at every key exchange
   * (kex.js: `this._hostKey.getPublicSSH()`), so renewing means swapping what that returns.
   */
  forProxy(principals: string[], renewEveryMs = PROXY_CERT_RENEW_MS): Ssh2.EncryptedPrivateKey[] {
    const issue = () => this.hostCa.issueHostCert({ publicKey: this.key.publicBlob, hosts: principals, ttlMs: PROXY_CERT_TTL_MS, keyId: `tollgate-proxy:${principals[0]}` }, this.clock.now()).blob;
    const entry = hostKeyWithCertificate(this.key.privateKey, issue());
    const key = entry.key as unknown as { getPublicSSH(): Buffer };
    clearInterval(this.renewal);
    this.renewal = setInterval(() => {
      const blob = issue();
      key.getPublicSSH = () => blob;
    }, renewEveryMs);
    this.renewal.unref();
    return [entry, plainHostKey(this.key.privateKey)];
  }

  close(): void {
    clearInterval(this.renewal);
  }

  forNode(hostname: string): Ssh2.EncryptedPrivateKey[] {
    const now = this.clock.now().getTime();
    const hit = this.cache.get(hostname);
    if (hit && hit.until > now) return hit.keys;
    const cert = this.hostCa.issueHostCert({ publicKey: this.key.publicBlob, hosts: [hostname], ttlMs: NODE_CERT_TTL_MS, keyId: `tollgate-proxy-for:${hostname}` }, this.clock.now());
    const keys = [hostKeyWithCertificate(this.key.privateKey, cert.blob), plainHostKey(this.key.privateKey)];
    if (this.cache.size > 10_000) this.cache.clear();
    this.cache.set(hostname, { keys, until: now + NODE_CERT_REUSE_MS });
    return keys;
  }
}
