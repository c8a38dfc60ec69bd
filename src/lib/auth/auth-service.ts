import crypto from 'node:crypto';
import { AuditEvents, createAuditor, type AuditEventName, type Auditor } from '../audit/index.js';
import type { KeyObject } from 'node:crypto';
import { CertAuthority, type CAType, type IssuedCert, fingerprint, generateEd25519, parsePublicKeyLine, privateKeyFromPem, allowedSignersLine, signSshsig } from '../ca/index.js';
import type { Clock } from '../clock.js';
import { formatHostPort, type HostPort } from '../address.js';
import { formatDuration } from '../duration.js';
import { badParameter, notFound, TollgateError } from '../errors.js';
import { ALL_NODES, formatLabelRule, parseLabelRule, type LabelRule } from '../labels.js';
import type { Logger } from '../log.js';
import { RECORDING_INTERRUPTED_NAMESPACE, RECORDING_NAMESPACE, type RecordingSigner } from '../recording/index.js';
import type { AuditEvent, EventQuery, SignupTokenRecord, Store, UserRecord, UserRole } from '../store/index.js';
import { parseHostNames, parseLogins, parseRoles, validateUserName } from './validate.js';
import { fixedKeySource, isSealed, KEK_BYTES, kekId, type KeySource, sealPrivateKey, unsealPrivateKey } from './sealed-keys.js';
import { hashToken } from './tokens.js';

export interface AuthServiceOptions {
  store: Store;
  clock: Clock;
  log: Logger;
  clusterName: string;
  /** Where signup URLs point: the proxy's public web address. */
  publicWebAddr: HostPort;
  maxSessionTtlMs: number;
  /** CIDRs pinned into every user certificate (`source-address`); empty = not pinned. */
  certSourceAddresses: readonly string[];
  /**
   * CIDRs pinned into per-session certificates for registered nodes: the proxy's upstream
   * addresses (upstream_bind_addr, cert_source_addresses); empty = not pinned.
   */
  sessionCertSourceAddresses?: readonly string[];
  /** Sees every audit event once written (the diag part's metrics). */
  observeAudit?: (event: AuditEvent) => void;
  /**
   * The key-encryption key that seals the CA and recording keys in the store (teleport.keys_file
   * or TOLLGATE_KEK; runtime.ts always passes it). Absent: a key of this process only, for tests
   * that build the service in-process: such a store cannot be opened by another process.
   */
  keys?: KeySource;
}

const PROCESS_KEYS = fixedKeySource(crypto.randomBytes(KEK_BYTES), 'this process\'s key-encryption key');
const SEALED_TYPES = ['recording', 'user', 'host', 'openssh'] as const;

/**
 * How long a per-session certificate for a registered node is valid after it is made: enough to
 * log in (sessions outlive it, as with any SSH certificate). With the one-minute backdate the
 * whole window is three minutes.
 */
export const SESSION_CERT_TTL_MS = 2 * 60_000;

/** A per-session certificate with its in-memory key (never written anywhere). */
export interface SessionCredentials {
  privateKey: KeyObject;
  certBlob: Buffer;
  cert: IssuedCert;
}

export const SIGNUP_TTL_DEFAULT_MS = 3_600_000;
export { RECORDING_NAMESPACE } from '../recording/index.js';
/** Teleport caps invitations at 48h: a signup link is a password-setting credential. */
export const SIGNUP_TTL_MAX_MS = 48 * 3_600_000;
export const USER_CERT_TTL_DEFAULT_MS = 12 * 3_600_000;
export const HOST_CERT_TTL_DEFAULT_MS = 30 * 24 * 3_600_000;

export interface SignupInvite {
  user: string;
  token: string;
  url: string;
  expiresAt: Date;
  ttlMs: number;
}

export interface PublicUser {
  name: string;
  logins: string[];
  roles: UserRole[];
  created_at: string;
  /** `pending` until signup sets a password. */
  status: 'pending' | 'active' | 'locked';
  /** Which registered nodes the user may reach (`*` for all). */
  node_labels: string;
}

export type ExportFormat = 'openssh' | 'authorized-keys' | 'known-hosts';


/**
 * The auth service: users, signup tokens, the two certificate authorities, certificate issuing and
 * the audit log. Everything persistent goes through the Store; time through the Clock.
 */
export class AuthService {
  private cas = new Map<CAType, CertAuthority>();

  /** The audit log's writer, shared with every part that reports events. */
  readonly auditor: Auditor;

  constructor(private readonly o: AuthServiceOptions) {
    this.auditor = createAuditor({ append: (e) => o.store.appendEvent(e), clock: o.clock, log: o.log, ...(o.observeAudit ? { observe: o.observeAudit } : {}) });
  }

  get clusterName(): string {
    return this.o.clusterName;
  }

  private recordingKey: CertAuthority | undefined;

  /** Loads the CAs and the recording signing key, creating each once (the store arbitrates races). */
  async init(): Promise<void> {
    const kek = await this.openKeys();
    const pem = (r: { type: string; privateKeyPem: string }) => unsealPrivateKey(kek, r.type, r.privateKeyPem, this.keys.describe);
    const rec = await this.loadOrCreate('recording', kek);
    this.recordingKey = CertAuthority.fromPem('user', pem(rec), Buffer.from(rec.publicKey, 'base64'));
    for (const type of ['user', 'host', 'openssh'] as const) {
      let rec = await this.o.store.getCertAuthority(type);
      if (!rec) {
        const fresh = CertAuthority.generate(type);
        rec = await this.o.store.createCertAuthorityIfAbsent({
          type,
          privateKeyPem: sealPrivateKey(kek, type, fresh.pem),
          publicKey: fresh.publicBlob.toString('base64'),
          createdAt: this.o.clock.now().getTime(),
        });
        this.o.log.info(`created the ${type} certificate authority`, { component: 'auth', fingerprint: fingerprint(Buffer.from(rec.publicKey, 'base64')) });
      }
      this.cas.set(type, CertAuthority.fromPem(type, pem(rec), Buffer.from(rec.publicKey, 'base64')));
    }
  }

  private get keys(): KeySource {
    return this.o.keys ?? PROCESS_KEYS;
  }

  /**
   * The key-encryption key, and every stored private key sealed under it. A missing key file is
   * created only while the store holds no sealed key: otherwise the database was copied without
   * it (or the file was lost), and starting would mean making keys nobody trusts, or none at all.
   * Plaintext rows from older versions are sealed here, once (the store arbitrates two daemons).
   */
  private async openKeys(): Promise<Buffer> {
    const rows = await Promise.all(SEALED_TYPES.map((t) => this.o.store.getCertAuthority(t)));
    let kek = this.keys.read();
    if (!kek) {
      if (rows.some((r) => r && isSealed(r.privateKeyPem))) {
        throw new TollgateError('unavailable', `the store holds sealed CA keys but ${this.keys.describe} is missing`, {
          hint: 'copy the key file of the daemon that made this database (teleport.keys_file) or set TOLLGATE_KEK; a database without its key cannot sign',
        });
      }
      kek = this.keys.create();
      this.o.log.info('created the key-encryption key', { component: 'auth', source: this.keys.describe, kek_id: kekId(kek) });
    }
    for (const r of rows) {
      if (!r || isSealed(r.privateKeyPem)) continue;
      await this.o.store.replaceCertAuthorityKey(r.type, r.privateKeyPem, sealPrivateKey(kek, r.type, r.privateKeyPem));
      this.o.log.info(`sealed the ${r.type} key at rest`, { component: 'auth', kek_id: kekId(kek) });
    }
    return kek;
  }

  private async loadOrCreate(type: 'recording', kek: Buffer) {
    let rec = await this.o.store.getCertAuthority(type);
    if (!rec) {
      const fresh = CertAuthority.generate('user');
      rec = await this.o.store.createCertAuthorityIfAbsent({ type, privateKeyPem: sealPrivateKey(kek, type, fresh.pem), publicKey: fresh.publicBlob.toString('base64'), createdAt: this.o.clock.now().getTime() });
      this.o.log.info('created the recording signing key', { component: 'auth', fingerprint: fingerprint(Buffer.from(rec.publicKey, 'base64')) });
    }
    return rec;
  }

  private signer: RecordingSigner | undefined;

  /** The cluster's recording key as a signer: checkpoints (raw ed25519) and final SSHSIG files. */
  get recordingSigner(): RecordingSigner {
    if (!this.signer) {
      const ca = this.recordingKey!;
      const key = privateKeyFromPem(ca.pem);
      this.signer = {
        publicBlob: ca.publicBlob,
        identity: `tollgate-recording@${this.o.clusterName}`,
        namespace: RECORDING_NAMESPACE,
        key,
        sign: (message) => crypto.sign(null, message, key),
        signSshsig: (sha256, namespace = RECORDING_NAMESPACE) => signSshsig(key, ca.publicBlob, namespace, sha256, 'sha256'),
      };
    }
    return this.signer;
  }

  /** The recording key as an `allowed_signers` line. */
  exportRecordingKey(): string {
    return allowedSignersLine(this.recordingSigner.identity, `${RECORDING_NAMESPACE},${RECORDING_INTERRUPTED_NAMESPACE}`, this.recordingKey!.publicKeyLine());
  }

  ca(type: CAType): CertAuthority {
    const ca = this.cas.get(type);
    if (!ca) throw new TollgateError('internal', 'auth service used before init()');
    return ca;
  }

  // ---- audit ---------------------------------------------------------------------------------

  /** Appends an audit event; the audit log is the record of what happened, so failures propagate. */
  audit(event: AuditEventName, user: string | null, fields: Record<string, unknown> = {}): Promise<AuditEvent> {
    return this.auditor.record(event, user, fields);
  }

  listEvents(q?: EventQuery): Promise<AuditEvent[]> {
    return this.o.store.listEvents(q);
  }

  // ---- users ---------------------------------------------------------------------------------

  private signupTtl(ttlMs: number | undefined): number {
    const ttl = ttlMs ?? SIGNUP_TTL_DEFAULT_MS;
    if (ttl < 1000 || ttl > SIGNUP_TTL_MAX_MS) {
      throw badParameter(`signup link TTL ${formatDuration(ttl)} is out of range`, `use between 1s and ${formatDuration(SIGNUP_TTL_MAX_MS)}`);
    }
    return ttl;
  }

  private newInvite(user: string, ttlMs: number): { invite: SignupInvite; record: SignupTokenRecord } {
    const token = crypto.randomBytes(32).toString('hex');
    const now = this.o.clock.now().getTime();
    const expiresAt = now + ttlMs;
    return {
      invite: {
        user,
        token,
        url: `https://${formatHostPort(this.o.publicWebAddr)}/web/invite/${token}`,
        expiresAt: new Date(expiresAt),
        ttlMs,
      },
      record: { tokenHash: hashToken(token), user, createdAt: now, expiresAt, usedAt: null },
    };
  }

  /** Creates a user allowed `logins`, pending until they complete signup with the returned link. */
  async createUser(
    req: { name: string; logins: string | readonly string[]; roles?: string | readonly string[]; nodeLabels?: string; ttlMs?: number },
    actor = 'admin',
  ): Promise<SignupInvite> {
    const name = validateUserName(req.name);
    const logins = parseLogins(req.logins);
    const roles = parseRoles(req.roles ?? ['access']);
    const nodeLabels = req.nodeLabels === undefined ? { ...ALL_NODES } : parseLabelRule(req.nodeLabels);
    const ttl = this.signupTtl(req.ttlMs);
    const { invite, record } = this.newInvite(name, ttl);
    const user: UserRecord = {
      name, logins, roles, passwordHash: null, otpSecret: null, createdAt: this.o.clock.now().getTime(), lockedUntil: null, nodeLabels,
    };
    await this.o.store.createUser(user, record);
    await this.audit(AuditEvents.userCreate, name, { name, logins, roles, node_labels: formatLabelRule(nodeLabels), actor });
    return invite;
  }

  /** Changes a user's logins, roles or node labels (`tctl users update`); certificates already issued keep their principals until they expire. */
  async updateUser(name: string, req: { logins?: string | readonly string[]; roles?: string | readonly string[]; nodeLabels?: string }, actor = 'admin'): Promise<PublicUser> {
    const patch: { logins?: string[]; roles?: UserRole[]; nodeLabels?: LabelRule } = {};
    if (req.logins !== undefined) patch.logins = parseLogins(req.logins);
    if (req.roles !== undefined) patch.roles = parseRoles(req.roles);
    if (req.nodeLabels !== undefined) patch.nodeLabels = parseLabelRule(req.nodeLabels);
    if (Object.keys(patch).length === 0) throw badParameter('nothing to update', 'give --set-logins, --set-roles or --set-node-labels');
    if (!(await this.o.store.updateUser(name, patch))) throw notFound(`user "${name}" not found`, 'see tctl users ls');
    const fields: Record<string, unknown> = { name, actor };
    if (patch.logins) fields.logins = patch.logins;
    if (patch.roles) fields.roles = patch.roles;
    if (patch.nodeLabels) fields.node_labels = formatLabelRule(patch.nodeLabels);
    await this.audit(AuditEvents.userUpdate, name, fields);
    return (await this.listUsers()).find((u) => u.name === name)!;
  }

  async getUser(name: string): Promise<UserRecord> {
    const u = await this.o.store.getUser(name);
    if (!u) throw notFound(`user "${name}" not found`, 'see tctl users ls');
    return u;
  }

  async listUsers(): Promise<PublicUser[]> {
    const now = this.o.clock.now().getTime();
    return (await this.o.store.listUsers()).map((u) => ({
      name: u.name,
      logins: u.logins,
      roles: u.roles,
      created_at: new Date(u.createdAt).toISOString(),
      status: u.lockedUntil && u.lockedUntil > now ? 'locked' : u.passwordHash ? 'active' : 'pending',
      node_labels: formatLabelRule(u.nodeLabels),
    }));
  }

  async deleteUser(name: string, actor = 'admin'): Promise<void> {
    if (!(await this.o.store.deleteUser(name))) throw notFound(`user "${name}" not found`, 'see tctl users ls');
    await this.audit(AuditEvents.userDelete, name, { name, actor });
  }

  /** tctl users unlock: ends a web login lockout and forgets the failures; password, OTP and certificates stay. */
  async unlockUser(name: string, actor = 'admin'): Promise<void> {
    await this.getUser(name);
    await this.o.store.updateUser(name, { lockedUntil: null });
    await this.o.store.clearLoginFailures(name);
    await this.audit(AuditEvents.userUnlock, name, { name, actor });
  }

  /** Clears the password and second factor and issues a new signup link (Teleport's `users reset`). */
  async resetUser(name: string, ttlMs?: number, actor = 'admin'): Promise<SignupInvite> {
    await this.getUser(name);
    const { invite, record } = this.newInvite(name, this.signupTtl(ttlMs));
    // Certificates issued before now are refused from here on (session/authorize.ts, and the KRL).
    await this.o.store.updateUser(name, { passwordHash: null, otpSecret: null, lockedUntil: null, credentialsResetAt: this.o.clock.now().getTime() });
    await this.o.store.replaceSignupToken(record);
    await this.o.store.deleteWebSessionsForUser(name);
    await this.audit(AuditEvents.userReset, name, { name, actor });
    return invite;
  }

  /** Looks a signup token up without using it (the signup page shows who it is for). */
  async checkSignupToken(token: string): Promise<SignupTokenRecord> {
    const rec = await this.o.store.getSignupToken(hashToken(token));
    return this.usable(rec);
  }

  /** Uses a signup token exactly once; concurrent redemptions of one token cannot both succeed. */
  async redeemSignupToken(token: string): Promise<SignupTokenRecord> {
    const now = this.o.clock.now().getTime();
    const rec = await this.o.store.consumeSignupToken(hashToken(token), now);
    if (rec) return rec;
    return this.usable(await this.o.store.getSignupToken(hashToken(token)));
  }

  private usable(rec: SignupTokenRecord | undefined): SignupTokenRecord {
    const hint = 'ask an administrator for a new link (tctl users reset USER)';
    if (!rec) throw notFound('this signup link is not valid', hint);
    if (rec.usedAt !== null) throw badParameter('this signup link has already been used', hint);
    if (rec.expiresAt <= this.o.clock.now().getTime()) throw badParameter('this signup link has expired', hint);
    return rec;
  }

  // ---- certificate authorities -----------------------------------------------------------------

  /** The CA public key in the form each consumer wants (see DESIGN.md, `tctl auth export`). */
  exportCA(type: CAType, format?: ExportFormat, hostPattern?: string): string {
    const line = this.ca(type).publicKeyLine();
    const fmt = format ?? (type === 'host' ? 'known-hosts' : 'openssh');
    switch (fmt) {
      case 'openssh':
        return line;
      case 'authorized-keys':
        return `cert-authority ${line}`;
      case 'known-hosts':
        return `@cert-authority ${hostPattern ?? `*.${this.o.clusterName}`} ${line}`;
    }
  }

  private checkTtl(ttlMs: number, kind: string, max?: number): number {
    if (!Number.isFinite(ttlMs) || ttlMs < 60_000) throw badParameter(`${kind} certificate TTL must be at least 1m`);
    if (max !== undefined && ttlMs > max) {
      throw badParameter(`${kind} certificate TTL ${formatDuration(ttlMs)} exceeds auth_service.max_session_ttl (${formatDuration(max)})`, 'ask for a shorter --ttl');
    }
    return ttlMs;
  }

  private async recordCert(cert: IssuedCert, publicKey: Buffer, actor: string, session?: { certType: 'session'; user: string; sessionId: string }): Promise<void> {
    const f = cert.fields;
    const rec = {
      serial: f.serial.toString(),
      type: session ? session.certType : f.type,
      keyId: f.keyId,
      principals: [...f.principals],
      validAfter: Number(f.validAfter) * 1000,
      validBefore: Number(f.validBefore) * 1000,
      fingerprint: fingerprint(publicKey),
      createdAt: this.o.clock.now().getTime(),
    };
    await this.o.store.recordIssuedCert(rec);
    await this.audit(AuditEvents.certCreate, session ? session.user : f.type === 'user' ? f.keyId : null, {
      cert_type: rec.type,
      ...(session ? { sid: session.sessionId } : {}),
      serial: rec.serial,
      key_id: f.keyId,
      principals: rec.principals,
      valid_before: new Date(rec.validBefore).toISOString(),
      fingerprint: rec.fingerprint,
      actor,
    });
  }

  /** Issues a host certificate (principals = host names) for an OpenSSH node's HostCertificate. */
  async signHostCert(req: { publicKey: string; hosts: string | readonly string[]; ttlMs?: number }, actor = 'admin'): Promise<IssuedCert> {
    const hosts = parseHostNames(req.hosts);
    const { blob } = parsePublicKeyLine(req.publicKey);
    const ttlMs = this.checkTtl(req.ttlMs ?? HOST_CERT_TTL_DEFAULT_MS, 'host');
    const cert = this.ca('host').issueHostCert({ publicKey: blob, hosts, ttlMs }, this.o.clock.now());
    await this.recordCert(cert, blob, actor);
    return cert;
  }

  /** Issues a user certificate for an existing user's logins; TTL capped by max_session_ttl. */
  async signUserCert(req: { user: string; publicKey: string; ttlMs?: number }, actor = 'admin'): Promise<IssuedCert> {
    const user = await this.getUser(req.user);
    const { blob } = parsePublicKeyLine(req.publicKey);
    const ttlMs = this.checkTtl(req.ttlMs ?? USER_CERT_TTL_DEFAULT_MS, 'user', this.o.maxSessionTtlMs);
    const cert = this.ca('user').issueUserCert(
      { publicKey: blob, user: user.name, logins: user.logins, ttlMs, sourceAddresses: this.o.certSourceAddresses },
      this.o.clock.now(),
    );
    await this.recordCert(cert, blob, actor);
    return cert;
  }

  /**
   * A certificate for one session on a registered node, from the OpenSSH CA: a fresh in-memory key,
   * the login as the only principal, key id naming user and session, valid for minutes. Recorded
   * and audited like every certificate (cert.create); the key is returned, never stored.
   */
  async mintSessionCert(req: { user: string; sessionId: string; login: string; agentForwarding: boolean; portForwarding: boolean }): Promise<SessionCredentials> {
    const kp = generateEd25519();
    const cert = this.ca('openssh').issueSessionCert(
      { publicKey: kp.publicBlob, ...req, ttlMs: SESSION_CERT_TTL_MS, sourceAddresses: this.o.sessionCertSourceAddresses ?? [] },
      this.o.clock.now(),
    );
    await this.recordCert(cert, kp.publicBlob, 'proxy', { certType: 'session', user: req.user, sessionId: req.sessionId });
    return { privateKey: kp.privateKey, certBlob: cert.blob, cert };
  }

  /** Whether user certificates are pinned to the proxies; when not, sessions can bypass recording. */
  get certsPinned(): boolean {
    return this.o.certSourceAddresses.length > 0;
  }
}
