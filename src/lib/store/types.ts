/** Records the store keeps, and the one interface every backend (SQLite, PostgreSQL) implements. */
import type { CAType } from '../ca/index.js';

export interface CertAuthorityRecord {
  type: CAType | 'recording';
  /**
   * The private key as the auth service stores it: sealed (AES-256-GCM under the key-encryption
   * key kept outside the store, auth/sealed-keys.ts); PKCS#8 PEM only in rows from older versions,
   * which the auth service seals at start.
   */
  privateKeyPem: string;
  /** SSH public key blob, base64. */
  publicKey: string;
  createdAt: number;
}

export type UserRole = 'access' | 'auditor';

export interface UserRecord {
  name: string;
  logins: string[];
  roles: UserRole[];
  /** Null until signup sets a password. */
  passwordHash: string | null;
  otpSecret: string | null;
  createdAt: number;
  /** Epoch ms until which logins are refused after repeated failures; null when not locked. */
  lockedUntil: number | null;
  /**
   * Which registered nodes the user may reach, by label: every key must match one of its values
   * (`*` as key or value matches anything). `{ '*': ['*'] }` (all nodes) is the default.
   */
  nodeLabels: NodeLabelRule;
  /**
   * When `tctl users reset` last ran (epoch ms), or null: certificates issued before it, or before
   * `createdAt` (a deleted user's certificates, for a user re-created under the same name), are refused.
   */
  credentialsResetAt?: number | null;
}

/** What a lock (tctl lock) names: every session of a user, to a login, to a node, or one session. */
export type LockKind = 'user' | 'login' | 'node' | 'session';

/** A lock: refuses new sessions that match it and ends the running ones (Teleport's lock resource). */
export interface LockRecord {
  /** A UUID. */
  id: string;
  kind: LockKind;
  /** The user name, login, node name (or host:port for a legacy node) or session id. */
  target: string;
  /** Shown to the client whose session it refuses or ends. */
  message: string;
  /** Epoch ms; null until removed with tctl locks rm. */
  expiresAt: number | null;
  createdBy: string;
  createdAt: number;
}

/** A user's node label rule (see UserRecord.nodeLabels). */
export type NodeLabelRule = Record<string, string[]>;

/** A node in the inventory: an OpenSSH server that trusts the OpenSSH CA (agentless). */
export interface NodeRecord {
  /** Unique; what `tsh ssh LOGIN@NAME` and the session index call it. */
  name: string;
  /** Where the proxy dials it. */
  host: string;
  port: number;
  labels: Record<string, string>;
  /** Who registered it: `admin` (tctl nodes add) or `join:<token hash prefix>`. */
  addedBy: string;
  createdAt: number;
  /** SHA256 fingerprint of its host key (or host certificate's key), when known. */
  hostKeyFingerprint: string | null;
}

/** A single-use token that lets a node join the cluster (`tctl tokens add --type=node`). */
export interface JoinTokenRecord {
  /** SHA-256 of the token, hex: the token itself is never stored. */
  tokenHash: string;
  type: 'node';
  createdAt: number;
  expiresAt: number;
  usedAt: number | null;
  /** The node that used it. */
  usedBy: string | null;
}

export interface SignupTokenRecord {
  /** SHA-256 of the token, hex: the token itself is never stored. */
  tokenHash: string;
  user: string;
  createdAt: number;
  expiresAt: number;
  usedAt: number | null;
  /** TOTP secret offered on the signup page, kept until signup completes (second_factor: otp). */
  otpSecret?: string | null;
}

/** A bearer token for the web API (tsh after login, and the browser's session cookie). */
export interface WebSessionRecord {
  /** SHA-256 of the token, hex. */
  tokenHash: string;
  user: string;
  createdAt: number;
  expiresAt: number;
}

export interface IssuedCertRecord {
  serial: string;
  /** `session`: a per-session certificate from the OpenSSH CA for a registered node. */
  type: 'user' | 'host' | 'session';
  keyId: string;
  principals: string[];
  validAfter: number;
  validBefore: number;
  fingerprint: string;
  createdAt: number;
}

/** An audit event as Teleport shapes them: `event` name, time, and flat fields. */
export interface AuditEvent {
  id: string;
  event: string;
  time: number;
  user: string | null;
  fields: Record<string, unknown>;
}

export interface EventQuery {
  types?: readonly string[];
  user?: string;
  since?: number;
  until?: number;
  /** Newest first, at most this many (default 100). */
  limit?: number;
}

export type SessionKind = 'shell' | 'exec' | 'sftp' | 'subsystem';

/** One recorded session channel in the session index. */
export interface SessionRecord {
  id: string;
  kind: SessionKind;
  user: string;
  login: string;
  /** `host:port` as dialled. */
  node: string;
  clientAddr: string;
  command: string | null;
  pty: boolean;
  startedAt: number;
  endedAt: number | null;
  exitStatus: number | null;
  exitSignal: string | null;
  bytesIn: number;
  bytesOut: number;
  sha256In: string | null;
  sha256Out: string | null;
  /** Recording file name, relative to the recordings directory. */
  recording: string;
  endReason: string | null;
  /** The daemon that recorded it (null before 0005): only it closes the session after a crash. */
  serverId?: string | null;
  /** Where the recording was sealed (its signed end record), so a recording cut back later reads as altered. */
  recordingBytes?: number | null;
  recordingChain?: string | null;
}

/** `bin`: the byte-exact sidecar of binary reads (recording/binary-sidecar.ts). */
export type RecordingPart = 'cast' | 'chain' | 'sig' | 'bin';

export interface RecordingChunk {
  offset: number;
  data: Buffer;
}

/** tctl sessions end, handed through the store to the daemon that relays the session. */
export interface SessionEndRequest {
  sessionId: string;
  message: string;
  requestedBy: string;
  requestedAt: number;
}

export interface SessionQuery {
  user?: string;
  since?: number;
  until?: number;
  /** Only sessions that have not ended (what a crash leaves behind). */
  open?: boolean;
  /** Only sessions this daemon recorded (and those from before daemons had ids). */
  serverId?: string;
  limit?: number;
}

/** One line of what a session's screen showed (or a non-PTY session's text), for search. */
export interface SessionLine {
  /** The line's number in its session, from 0: context is the lines beside it. */
  seq: number;
  /** Milliseconds from the start of the recording to when the line appeared. */
  offsetMs: number;
  text: string;
}

/**
 * A search: words (all must match), `"a phrase"`, and `prefix*`; filters as in SessionQuery.
 * Paged with `limit` and `skip`.
 */
export interface SearchQuery {
  text: string;
  user?: string;
  node?: string;
  since?: number;
  until?: number;
  limit?: number;
  skip?: number;
}

export interface SearchHit {
  sessionId: string;
  user: string;
  login: string;
  node: string;
  startedAt: number;
  seq: number;
  offsetMs: number;
  line: string;
  /** The line before and the line after, when there are. */
  before: string | null;
  after: string | null;
}

export interface Store {
  /** Creates or upgrades the schema; safe to call on every start. */
  migrate(): Promise<void>;
  close(): Promise<void>;

  getCertAuthority(type: CertAuthorityRecord['type']): Promise<CertAuthorityRecord | undefined>;
  /** Inserts the CA unless one of that type exists; returns the one that is stored either way. */
  createCertAuthorityIfAbsent(ca: CertAuthorityRecord): Promise<CertAuthorityRecord>;
  /**
   * Replaces a CA's stored private key if it is still `from` (the auth service sealing an older
   * plaintext row; a daemon that sealed it first wins). Leaves no copy of `from` in the SQLite file.
   */
  replaceCertAuthorityKey(type: CertAuthorityRecord['type'], from: string, to: string): Promise<void>;

  /** Creates the user and its first signup token together; fails with already-exists. */
  createUser(user: UserRecord, token: SignupTokenRecord | undefined): Promise<void>;
  getUser(name: string): Promise<UserRecord | undefined>;
  listUsers(): Promise<UserRecord[]>;
  /** Deletes the user and its tokens; false when there was no such user. */
  deleteUser(name: string): Promise<boolean>;
  updateUser(name: string, patch: Partial<Pick<UserRecord, 'passwordHash' | 'otpSecret' | 'lockedUntil' | 'logins' | 'roles' | 'nodeLabels' | 'credentialsResetAt'>>): Promise<boolean>;

  /** Replaces every token of the user with this one (reset). */
  replaceSignupToken(token: SignupTokenRecord): Promise<void>;
  getSignupToken(tokenHash: string): Promise<SignupTokenRecord | undefined>;
  /**
   * Marks the token used if it is unused and unexpired at `now`, atomically, so two concurrent
   * redemptions cannot both succeed. Returns the token when this call consumed it.
   */
  consumeSignupToken(tokenHash: string, now: number): Promise<SignupTokenRecord | undefined>;

  /** Stores the OTP secret for a signup token once; returns the secret stored (first writer wins). */
  setSignupOtpSecret(tokenHash: string, secret: string): Promise<string | undefined>;
  /**
   * In one transaction: consumes the token (unused, unexpired at `now`) and sets the user's
   * password hash and OTP secret. False when the token was not usable, and then nothing changed.
   */
  completeSignup(tokenHash: string, now: number, passwordHash: string, otpSecret: string | null): Promise<SignupTokenRecord | undefined>;

  /** Records a failed login and returns how many failures the user has at or after `since`. */
  /**
   * Records that the user's OTP code for time step `step` was used, only if no code of that or a
   * later step was used before (atomically): false means the code is a replay.
   */
  claimOtpStep(user: string, step: number): Promise<boolean>;

  recordLoginFailure(user: string, now: number, reason: string, since: number): Promise<number>;
  clearLoginFailures(user: string): Promise<void>;

  createWebSession(session: WebSessionRecord): Promise<void>;
  getWebSession(tokenHash: string): Promise<WebSessionRecord | undefined>;
  deleteWebSession(tokenHash: string): Promise<void>;
  /** Ends every web session of the user (password reset) and forgets their login failures. */
  deleteWebSessionsForUser(user: string): Promise<void>;

  recordIssuedCert(cert: IssuedCertRecord): Promise<void>;
  listIssuedCerts(limit?: number): Promise<IssuedCertRecord[]>;
  getIssuedCert(serial: string): Promise<IssuedCertRecord | undefined>;
  /** Certificates of this type still valid at `now` (valid_before after it), for the KRL. */
  listUnexpiredCerts(type: IssuedCertRecord['type'], now: number): Promise<IssuedCertRecord[]>;

  createLock(lock: LockRecord): Promise<void>;
  /** Locks in force at `now` (no expiry, or expiring after it), oldest first; every lock without `now`. */
  listLocks(now?: number): Promise<LockRecord[]>;
  /** False when there was no such lock. */
  deleteLock(id: string): Promise<boolean>;

  createSession(session: SessionRecord): Promise<void>;
  endSession(id: string, end: Pick<SessionRecord, 'endedAt' | 'exitStatus' | 'exitSignal' | 'bytesIn' | 'bytesOut' | 'sha256In' | 'sha256Out' | 'endReason' | 'recordingBytes' | 'recordingChain'>): Promise<void>;
  /** Appends a chunk of a shipped recording; a chunk already stored at that offset is kept (retries are safe). */
  appendRecordingChunk(sessionId: string, part: RecordingPart, offset: number, data: Buffer): Promise<void>;
  /** Chunks from `fromOffset` on, in order, at most `limit` of them (read page by page). */
  readRecordingChunks(sessionId: string, part: RecordingPart, fromOffset: number, limit: number): Promise<RecordingChunk[]>;
  /** Bytes stored for the part (the next offset to append at); 0 when none. */
  recordingPartSize(sessionId: string, part: RecordingPart): Promise<number>;
  getSession(id: string): Promise<SessionRecord | undefined>;
  /** Newest first. */
  listSessions(query?: SessionQuery): Promise<SessionRecord[]>;

  /** Adds the node, or replaces the one of that name (a node joining again). */
  putNode(node: NodeRecord): Promise<void>;
  getNode(name: string): Promise<NodeRecord | undefined>;
  /** By name. */
  listNodes(): Promise<NodeRecord[]>;
  /** False when there was no such node. */
  deleteNode(name: string): Promise<boolean>;

  /** Asks whichever daemon relays session `sessionId` to end it (a second request for it is ignored). */
  requestSessionEnd(req: SessionEndRequest): Promise<void>;
  /** The end requests for these sessions, removed as they are returned (each is acted on once). */
  takeSessionEndRequests(sessionIds: readonly string[]): Promise<SessionEndRequest[]>;

  createJoinToken(token: JoinTokenRecord): Promise<void>;
  /**
   * Marks the token used by `node` if it is unused and unexpired at `now`, atomically: of two
   * concurrent redemptions one wins. Returns the token when this call consumed it.
   */
  consumeJoinToken(tokenHash: string, now: number, node: string): Promise<JoinTokenRecord | undefined>;
  getJoinToken(tokenHash: string): Promise<JoinTokenRecord | undefined>;
  listJoinTokens(): Promise<JoinTokenRecord[]>;

  /** Adds lines to a session's search index (a batch from the indexer; seq unique per session). */
  indexSessionLines(sessionId: string, lines: readonly SessionLine[]): Promise<void>;
  /** Forgets a session's indexed lines (before a reindex). */
  clearSessionLines(sessionId: string): Promise<void>;
  /**
   * Lines matching the query, best match first, newer sessions first on ties, with the session's
   * user, login, node and the lines beside each hit. A query with no words is a bad-parameter error.
   */
  searchSessions(query: SearchQuery): Promise<SearchHit[]>;

  appendEvent(event: AuditEvent): Promise<void>;
  listEvents(query?: EventQuery): Promise<AuditEvent[]>;
}
