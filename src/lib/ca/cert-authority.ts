import { randomFromPool } from './random-pool.js';
import crypto, { type KeyObject } from 'node:crypto';
import { badParameter } from '../errors.js';
import { WireReader } from '../wire/index.js';
import { signCertificate, type CertificateFields, type CertType } from './certificate.js';
import { ED25519, generateEd25519, privateKeyFromPem, publicKeyLine } from './keys.js';

/**
 * `user` signs the certificates users hold (tsh login); `host` signs host certificates; `openssh`
 * signs only the per-session certificates the proxy mints for registered nodes, which trust it
 * alone (agentless nodes: a user's own certificate opens nothing there).
 */
export type CAType = 'user' | 'host' | 'openssh';

/** Certificates are backdated this much so a node whose clock lags a little still accepts them (as Teleport does). */
export const CLOCK_SKEW_MS = 60_000;

/** The identity a user certificate carries: the single place it maps onto certificate fields. */
export interface UserCertRequest {
  /** Subject public key blob (ssh-ed25519). */
  publicKey: Buffer;
  /** The tollgate user name; becomes the key id. */
  user: string;
  /** Allowed logins; become the principals. */
  logins: readonly string[];
  ttlMs: number;
  /** When non-empty, the `source-address` critical option pins the certificate to these CIDRs. */
  sourceAddresses?: readonly string[];
}

/** A certificate the proxy mints for one session to a registered node (DESIGN.md, agentless). */
export interface SessionCertRequest {
  publicKey: Buffer;
  /** The tollgate user and the session (or tunnel connection) id: both go into the key id. */
  user: string;
  sessionId: string;
  /** The one login the session asked for: the only principal. */
  login: string;
  ttlMs: number;
  /** Pins the certificate to the proxy's upstream addresses when set. */
  sourceAddresses?: readonly string[];
  /** The user's own agent forwarded on to the node (tsh ssh -A): only then permitted. */
  agentForwarding: boolean;
  portForwarding: boolean;
}

/** The key id of a session certificate: the node's sshd logs it with every login. */
export function sessionCertKeyId(user: string, sessionId: string): string {
  return `user=${user} session=${sessionId}`;
}

export interface HostCertRequest {
  publicKey: Buffer;
  /** Host names (and addresses) the host is reached at; become the principals. */
  hosts: readonly string[];
  ttlMs: number;
  /** Key id; defaults to the first host name. */
  keyId?: string;
}

export interface IssuedCert {
  blob: Buffer;
  fields: CertificateFields;
}

/** User certificate extensions, per DESIGN.md's identity contract (OpenSSH's names). */
export const USER_CERT_EXTENSIONS = Object.freeze({
  'permit-agent-forwarding': '',
  'permit-port-forwarding': '',
  'permit-pty': '',
});

function subjectRaw(blob: Buffer): Buffer {
  const r = new WireReader(blob, 'public key');
  const algo = r.text();
  if (algo !== ED25519) throw badParameter(`cannot certify a ${algo} key`, 'use an ed25519 key (ssh-keygen -t ed25519)');
  const raw = r.string();
  if (raw.length !== 32) throw badParameter('malformed ed25519 public key');
  return raw;
}

function validity(now: Date, ttlMs: number): { validAfter: bigint; validBefore: bigint } {
  if (!Number.isFinite(ttlMs) || ttlMs <= 0) throw badParameter('certificate TTL must be positive');
  return {
    validAfter: BigInt(Math.floor((now.getTime() - CLOCK_SKEW_MS) / 1000)),
    validBefore: BigInt(Math.floor((now.getTime() + ttlMs) / 1000)),
  };
}

/** Random non-zero 63-bit serial: unique enough to find a certificate in the audit log. */
function newSerial(): bigint {
  return (randomFromPool(8).readBigUInt64BE() >> 1n) | 1n;
}

/** One certificate authority (user or host): an ed25519 key that signs OpenSSH certificates. No I/O. */
export class CertAuthority {
  private constructor(
    readonly type: CAType,
    private readonly privateKey: KeyObject,
    readonly publicBlob: Buffer,
  ) {}

  static generate(type: CAType): CertAuthority {
    const kp = generateEd25519();
    return new CertAuthority(type, kp.privateKey, kp.publicBlob);
  }

  static fromPem(type: CAType, privatePem: string, publicBlob: Buffer): CertAuthority {
    return new CertAuthority(type, privateKeyFromPem(privatePem), publicBlob);
  }

  /** `ssh-ed25519 AAAA...`: what TrustedUserCAKeys and `@cert-authority` lines hold. */
  publicKeyLine(comment?: string): string {
    return publicKeyLine(this.publicBlob, comment);
  }

  get pem(): string {
    return this.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  }

  /** Signs arbitrary data with the CA key (used for recording signatures and tests). */
  sign(data: Buffer): Buffer {
    return crypto.sign(null, data, this.privateKey);
  }

  issueUserCert(req: UserCertRequest, now: Date): IssuedCert {
    if (this.type !== 'user') throw badParameter('user certificates are signed by the user CA');
    if (req.logins.length === 0) throw badParameter(`user ${req.user} has no logins`, 'add logins with tctl users add USER LOGIN[,LOGIN]');
    const criticalOptions: Record<string, string> = {};
    if (req.sourceAddresses?.length) criticalOptions['source-address'] = req.sourceAddresses.join(',');
    const fields: CertificateFields = {
      type: 'user',
      subjectKey: subjectRaw(req.publicKey),
      serial: newSerial(),
      keyId: req.user,
      principals: [...req.logins],
      ...validity(now, req.ttlMs),
      criticalOptions,
      extensions: USER_CERT_EXTENSIONS,
    };
    return { blob: signCertificate(fields, this.privateKey, this.publicBlob), fields };
  }

  /** A short-lived certificate for one session on a registered node: one principal, no agent unless asked. */
  issueSessionCert(req: SessionCertRequest, now: Date): IssuedCert {
    if (this.type !== 'openssh') throw badParameter('session certificates are signed by the OpenSSH CA');
    const criticalOptions: Record<string, string> = {};
    if (req.sourceAddresses?.length) criticalOptions['source-address'] = req.sourceAddresses.join(',');
    const extensions: Record<string, string> = { 'permit-pty': '' };
    if (req.agentForwarding) extensions['permit-agent-forwarding'] = '';
    if (req.portForwarding) extensions['permit-port-forwarding'] = '';
    const fields: CertificateFields = {
      type: 'user',
      subjectKey: subjectRaw(req.publicKey),
      serial: newSerial(),
      keyId: sessionCertKeyId(req.user, req.sessionId),
      principals: [req.login],
      ...validity(now, req.ttlMs),
      criticalOptions,
      extensions: Object.fromEntries(Object.entries(extensions).sort(([a], [b]) => (a < b ? -1 : 1))),
    };
    return { blob: signCertificate(fields, this.privateKey, this.publicBlob), fields };
  }

  issueHostCert(req: HostCertRequest, now: Date): IssuedCert {
    if (this.type !== 'host') throw badParameter('host certificates are signed by the host CA');
    if (req.hosts.length === 0) throw badParameter('a host certificate needs at least one host name');
    const fields: CertificateFields = {
      type: 'host' as CertType,
      subjectKey: subjectRaw(req.publicKey),
      serial: newSerial(),
      keyId: req.keyId ?? req.hosts[0]!,
      principals: [...req.hosts],
      ...validity(now, req.ttlMs),
      criticalOptions: {},
      extensions: {},
    };
    return { blob: signCertificate(fields, this.privateKey, this.publicBlob), fields };
  }
}
