import { Migrator, sql, type Kysely, type Selectable, type Transaction } from 'kysely';
import { alreadyExists, unavailable } from '../errors.js';
import { migrationProvider, type Dialect } from './migrations.js';
import * as inventory from './inventory-queries.js';
import * as locks from './lock-queries.js';
import type { Database } from './schema.js';
import { fts5Query, parseSearchQuery, sessionLineRow, tsQuery } from './search-query.js';
import { num, numOrNull } from './rows.js';
import type {
  AuditEvent,
  CertAuthorityRecord,
  EventQuery,
  SessionQuery,
  SessionRecord,
  IssuedCertRecord,
  JoinTokenRecord,
  LockRecord,
  SessionEndRequest,
  NodeRecord,
  RecordingChunk,
  RecordingPart,
  SearchHit,
  SearchQuery,
  SessionLine,
  SignupTokenRecord,
  Store,
  UserRecord,
  WebSessionRecord,
} from './types.js';

function toUser(r: Selectable<Database['users']>): UserRecord {
  return {
    name: r.name,
    logins: JSON.parse(r.logins) as string[],
    roles: JSON.parse(r.roles) as UserRecord['roles'],
    passwordHash: r.password_hash,
    otpSecret: r.otp_secret,
    createdAt: num(r.created_at),
    lockedUntil: numOrNull(r.locked_until),
    nodeLabels: r.node_labels === null ? { '*': ['*'] } : (JSON.parse(r.node_labels) as UserRecord['nodeLabels']),
    credentialsResetAt: numOrNull(r.credentials_reset_at),
  };
}

function toToken(r: Selectable<Database['signup_tokens']>): SignupTokenRecord {
  return {
    tokenHash: r.token_hash,
    user: r.user_name,
    createdAt: num(r.created_at),
    expiresAt: num(r.expires_at),
    usedAt: numOrNull(r.used_at),
    otpSecret: r.otp_secret,
  };
}

function toSession(r: Selectable<Database['sessions']>): SessionRecord {
  return {
    id: r.id,
    kind: r.kind as SessionRecord['kind'],
    user: r.user_name,
    login: r.login,
    node: r.node,
    clientAddr: r.client_addr,
    command: r.command,
    pty: Boolean(r.pty),
    startedAt: num(r.started_at),
    endedAt: numOrNull(r.ended_at),
    exitStatus: numOrNull(r.exit_status),
    exitSignal: r.exit_signal,
    bytesIn: num(r.bytes_in),
    bytesOut: num(r.bytes_out),
    sha256In: r.sha256_in,
    sha256Out: r.sha256_out,
    recording: r.recording,
    endReason: r.end_reason,
    serverId: r.server_id,
    recordingBytes: numOrNull(r.recording_bytes),
    recordingChain: r.recording_chain,
  };
}

/** One conditional UPDATE, atomic on both engines: of two racing redemptions one matches no row. */
function consumeToken(db: Kysely<Database>, tokenHash: string, now: number) {
  return db
    .updateTable('signup_tokens')
    .set({ used_at: now })
    .where('token_hash', '=', tokenHash)
    .where('used_at', 'is', null)
    .where('expires_at', '>', now)
    .returningAll()
    .executeTakeFirst();
}

function tokenRow(t: SignupTokenRecord) {
  return { token_hash: t.tokenHash, user_name: t.user, created_at: t.createdAt, expires_at: t.expiresAt, used_at: t.usedAt, otp_secret: t.otpSecret ?? null };
}

function isUniqueViolation(err: unknown): boolean {
  const e = err as { code?: string; message?: string };
  return e?.code === 'SQLITE_CONSTRAINT_PRIMARYKEY' || e?.code === 'SQLITE_CONSTRAINT_UNIQUE' || e?.code === '23505';
}

/** First key of the PostgreSQL advisory locks that serialise one user's writes ("toll" in ASCII). */
const USER_LOCK_SPACE = 0x746f6c6c;

/** Search hits whose neighbouring lines are fetched in one query (searchSessions). */
const CONTEXT_HITS = 250;

export interface KyselyStoreOptions {
  /**
   * Runs the whole migration while holding a lock that every process sharing the database
   * respects (postgres.ts: a session advisory lock). SQLite uses its write lock instead.
   */
  serialiseMigrations?: <T>(run: () => Promise<T>) => Promise<T>;
}

/**
 * The Store over Kysely: the same queries run on SQLite and PostgreSQL. Backends differ only in how
 * they open the connection (sqlite.ts, postgres.ts).
 *
 * Several processes may share one database (daemon and tctl on a SQLite file; several auth and
 * proxy processes on PostgreSQL), so no method may read and then write on the strength of what it
 * read unless a lock makes that safe. Single conditional statements (UPDATE ... WHERE used_at IS
 * NULL, INSERT ... ON CONFLICT DO NOTHING) are atomic on both engines: PostgreSQL re-checks the
 * WHERE clause against the row a concurrent writer committed. Multi-statement transactions are
 * serialised per user with `lockUser`.
 */
export class KyselyStore implements Store {
  constructor(
    protected readonly db: Kysely<Database>,
    private readonly dialect: Dialect,
    private readonly options: KyselyStoreOptions = {},
  ) {}

  /** Migrates to the latest schema; of processes starting together one migrates, the rest wait. */
  async migrate(): Promise<void> {
    const migrator = new Migrator({ db: this.db, provider: migrationProvider(this.dialect) });
    const run = async () => {
      const { error, results } = await migrator.migrateToLatest();
      if (error) {
        const failed = results?.find((r) => r.status === 'Error')?.migrationName;
        throw unavailable(`database migration ${failed ?? ''} failed: ${(error as Error).message}`.replace('  ', ' '), undefined, error);
      }
    };
    if (this.options.serialiseMigrations) return this.options.serialiseMigrations(run);
    if (this.dialect !== 'sqlite') return run();
    // Up to date (every start but the first after an upgrade): only read, as before, so a
    // read-only store file still opens and a busy daemon's write lock is not waited for.
    if ((await migrator.getMigrations()).every((m) => m.executedAt !== undefined)) return;
    return this.inSqliteWriteTransaction(run);
  }

  /**
   * Kysely takes no migration lock on SQLite and runs each migration outside a transaction, so two
   * processes opening a new file together both ran 0001 and one failed ("table already exists").
   * BEGIN IMMEDIATE takes SQLite's one write lock up front (waiting up to busy_timeout): the
   * Migrator's statements run on this same connection inside it, so the second process waits,
   * then finds every migration done. It also makes the migration all-or-nothing.
   */
  private async inSqliteWriteTransaction(run: () => Promise<void>): Promise<void> {
    try {
      await sql`begin immediate`.execute(this.db);
    } catch (err) {
      throw unavailable(`cannot lock the store to migrate it: ${(err as Error).message}`, 'another tollgate process is holding the database; try again', err);
    }
    try {
      await run();
      await sql`commit`.execute(this.db);
    } catch (err) {
      // SQLite may have rolled back already (it does on some errors); the migration error is the news.
      await sql`rollback`.execute(this.db).catch(() => {});
      throw err;
    }
  }

  /**
   * Serialises transactions that touch one user's rows (login failures, signup tokens, deletion)
   * across processes. PostgreSQL: a transaction-scoped advisory lock on the user name's hash (a
   * collision only serialises two users). SQLite: nothing to do, because each such transaction
   * starts with a write, which takes the database's single write lock (waiting up to busy_timeout)
   * before anything is read; keep it that way, since a read first would fail with SQLITE_BUSY.
   */
  private async lockUser(tx: Transaction<Database>, user: string): Promise<void> {
    if (this.dialect === 'postgres') await sql`SELECT pg_advisory_xact_lock(${sql.lit(USER_LOCK_SPACE)}, hashtext(${user}))`.execute(tx);
  }

  async close(): Promise<void> {
    await this.db.destroy();
  }

  async getCertAuthority(type: CertAuthorityRecord['type']): Promise<CertAuthorityRecord | undefined> {
    const r = await this.db.selectFrom('cert_authorities').selectAll().where('type', '=', type).executeTakeFirst();
    return r && { type: r.type as CertAuthorityRecord['type'], privateKeyPem: r.private_key, publicKey: r.public_key, createdAt: num(r.created_at) };
  }

  async createCertAuthorityIfAbsent(ca: CertAuthorityRecord): Promise<CertAuthorityRecord> {
    await this.db
      .insertInto('cert_authorities')
      .values({ type: ca.type, private_key: ca.privateKeyPem, public_key: ca.publicKey, created_at: ca.createdAt })
      .onConflict((oc) => oc.column('type').doNothing())
      .execute();
    return (await this.getCertAuthority(ca.type))!;
  }

  async replaceCertAuthorityKey(type: CertAuthorityRecord['type'], from: string, to: string): Promise<void> {
    await this.db.updateTable('cert_authorities').set({ private_key: to }).where('type', '=', type).where('private_key', '=', from).execute();
    if (this.dialect === 'sqlite') {
      // The replaced row's page would keep the plaintext key in the file (and the WAL) until reused:
      // rebuild the file and empty the WAL so `strings` of it finds nothing. Runs once, at upgrade.
      await sql`PRAGMA wal_checkpoint(TRUNCATE)`.execute(this.db);
      await sql`VACUUM`.execute(this.db);
      await sql`PRAGMA wal_checkpoint(TRUNCATE)`.execute(this.db);
    }
  }

  async createUser(user: UserRecord, token: SignupTokenRecord | undefined): Promise<void> {
    try {
      await this.db.transaction().execute(async (tx) => {
        await tx
          .insertInto('users')
          .values({
            name: user.name,
            logins: JSON.stringify(user.logins),
            roles: JSON.stringify(user.roles),
            password_hash: user.passwordHash,
            otp_secret: user.otpSecret,
            created_at: user.createdAt,
            locked_until: user.lockedUntil,
            otp_last_step: null,
            node_labels: JSON.stringify(user.nodeLabels),
            credentials_reset_at: user.credentialsResetAt ?? null,
          })
          .execute();
        if (token) await tx.insertInto('signup_tokens').values(tokenRow(token)).execute();
      });
    } catch (err) {
      if (isUniqueViolation(err)) throw alreadyExists(`user "${user.name}" already exists`, 'pick another name, or tctl users reset to send a new signup link');
      throw err;
    }
  }

  async getUser(name: string): Promise<UserRecord | undefined> {
    const r = await this.db.selectFrom('users').selectAll().where('name', '=', name).executeTakeFirst();
    return r && toUser(r);
  }

  async listUsers(): Promise<UserRecord[]> {
    return (await this.db.selectFrom('users').selectAll().orderBy('name').execute()).map(toUser);
  }

  async deleteUser(name: string): Promise<boolean> {
    return this.db.transaction().execute(async (tx) => {
      // Not interleaved with a reset or a failed login, which could leave rows for a deleted user.
      await this.lockUser(tx, name);
      await tx.deleteFrom('signup_tokens').where('user_name', '=', name).execute();
      await tx.deleteFrom('web_sessions').where('user_name', '=', name).execute();
      await tx.deleteFrom('login_failures').where('user_name', '=', name).execute();
      const r = await tx.deleteFrom('users').where('name', '=', name).executeTakeFirst();
      return Number(r.numDeletedRows) > 0;
    });
  }

  async updateUser(name: string, patch: Parameters<Store['updateUser']>[1]): Promise<boolean> {
    const values: Partial<Database['users']> = {};
    if (patch.passwordHash !== undefined) values.password_hash = patch.passwordHash;
    if (patch.otpSecret !== undefined) values.otp_secret = patch.otpSecret;
    if (patch.lockedUntil !== undefined) values.locked_until = patch.lockedUntil;
    if (patch.logins !== undefined) values.logins = JSON.stringify(patch.logins);
    if (patch.roles !== undefined) values.roles = JSON.stringify(patch.roles);
    if (patch.nodeLabels !== undefined) values.node_labels = JSON.stringify(patch.nodeLabels);
    if (patch.credentialsResetAt !== undefined) values.credentials_reset_at = patch.credentialsResetAt;
    if (Object.keys(values).length === 0) return (await this.getUser(name)) !== undefined;
    const r = await this.db.updateTable('users').set(values).where('name', '=', name).executeTakeFirst();
    return Number(r.numUpdatedRows) > 0;
  }

  async replaceSignupToken(token: SignupTokenRecord): Promise<void> {
    await this.db.transaction().execute(async (tx) => {
      // Without it, on PostgreSQL two concurrent resets each delete only the tokens committed
      // before they began and insert their own: both new links would stay valid.
      await this.lockUser(tx, token.user);
      await tx.deleteFrom('signup_tokens').where('user_name', '=', token.user).execute();
      await tx.insertInto('signup_tokens').values(tokenRow(token)).execute();
    });
  }

  async getSignupToken(tokenHash: string): Promise<SignupTokenRecord | undefined> {
    const r = await this.db.selectFrom('signup_tokens').selectAll().where('token_hash', '=', tokenHash).executeTakeFirst();
    return r && toToken(r);
  }

  async consumeSignupToken(tokenHash: string, now: number): Promise<SignupTokenRecord | undefined> {
    const r = await consumeToken(this.db, tokenHash, now);
    return r && toToken(r);
  }

  async setSignupOtpSecret(tokenHash: string, secret: string): Promise<string | undefined> {
    await this.db.updateTable('signup_tokens').set({ otp_secret: secret }).where('token_hash', '=', tokenHash).where('otp_secret', 'is', null).execute();
    return (await this.getSignupToken(tokenHash))?.otpSecret ?? undefined;
  }

  async completeSignup(tokenHash: string, now: number, passwordHash: string, otpSecret: string | null): Promise<SignupTokenRecord | undefined> {
    return this.db.transaction().execute(async (tx) => {
      const r = await consumeToken(tx, tokenHash, now);
      if (!r) return undefined;
      const u = await tx
        .updateTable('users')
        .set({ password_hash: passwordHash, otp_secret: otpSecret, locked_until: null })
        .where('name', '=', r.user_name)
        .executeTakeFirst();
      if (Number(u.numUpdatedRows) !== 1) throw new Error(`signup token for missing user ${r.user_name}`);
      await tx.deleteFrom('login_failures').where('user_name', '=', r.user_name).execute();
      return toToken(r);
    });
  }

  async claimOtpStep(user: string, step: number): Promise<boolean> {
    const r = await this.db
      .updateTable('users')
      .set({ otp_last_step: step })
      .where('name', '=', user)
      .where((eb) => eb.or([eb('otp_last_step', 'is', null), eb('otp_last_step', '<', step)]))
      .executeTakeFirst();
    return Number(r.numUpdatedRows) === 1;
  }

  async recordLoginFailure(user: string, now: number, reason: string, since: number): Promise<number> {
    return this.db.transaction().execute(async (tx) => {
      // Without it, on PostgreSQL concurrent failures each count only their own uncommitted row
      // plus the committed ones, so n parallel guesses could all see a count below the lockout.
      await this.lockUser(tx, user);
      await tx.insertInto('login_failures').values({ user_name: user, time: now, reason }).execute();
      // Old failures are no longer counted; drop them so the table stays small.
      await tx.deleteFrom('login_failures').where('user_name', '=', user).where('time', '<', since).execute();
      const r = await tx
        .selectFrom('login_failures')
        .select((eb) => eb.fn.countAll<number>().as('n'))
        .where('user_name', '=', user)
        .where('time', '>=', since)
        .executeTakeFirstOrThrow();
      return num(r.n);
    });
  }

  async clearLoginFailures(user: string): Promise<void> {
    await this.db.deleteFrom('login_failures').where('user_name', '=', user).execute();
  }

  async createWebSession(w: WebSessionRecord): Promise<void> {
    await this.db.insertInto('web_sessions').values({ token_hash: w.tokenHash, user_name: w.user, created_at: w.createdAt, expires_at: w.expiresAt }).execute();
  }

  async getWebSession(tokenHash: string): Promise<WebSessionRecord | undefined> {
    const r = await this.db.selectFrom('web_sessions').selectAll().where('token_hash', '=', tokenHash).executeTakeFirst();
    return r && { tokenHash: r.token_hash, user: r.user_name, createdAt: num(r.created_at), expiresAt: num(r.expires_at) };
  }

  async deleteWebSession(tokenHash: string): Promise<void> {
    await this.db.deleteFrom('web_sessions').where('token_hash', '=', tokenHash).execute();
  }

  async deleteWebSessionsForUser(user: string): Promise<void> {
    await this.db.transaction().execute(async (tx) => {
      await tx.deleteFrom('web_sessions').where('user_name', '=', user).execute();
      await tx.deleteFrom('login_failures').where('user_name', '=', user).execute();
    });
  }

  async recordIssuedCert(c: IssuedCertRecord): Promise<void> {
    await this.db
      .insertInto('issued_certs')
      .values({
        serial: c.serial,
        type: c.type,
        key_id: c.keyId,
        principals: JSON.stringify(c.principals),
        valid_after: c.validAfter,
        valid_before: c.validBefore,
        fingerprint: c.fingerprint,
        created_at: c.createdAt,
      })
      .execute();
  }

  async listIssuedCerts(limit = 100): Promise<IssuedCertRecord[]> {
    return (await this.db.selectFrom('issued_certs').selectAll().orderBy('created_at', 'desc').limit(limit).execute()).map(locks.toIssuedCert);
  }

  getIssuedCert(serial: string): Promise<IssuedCertRecord | undefined> {
    return locks.getIssuedCert(this.db, serial);
  }

  listUnexpiredCerts(type: IssuedCertRecord['type'], now: number): Promise<IssuedCertRecord[]> {
    return locks.listUnexpiredCerts(this.db, type, now);
  }

  createLock(lock: LockRecord): Promise<void> {
    return locks.createLock(this.db, lock);
  }

  listLocks(now?: number): Promise<LockRecord[]> {
    return locks.listLocks(this.db, now);
  }

  deleteLock(id: string): Promise<boolean> {
    return locks.deleteLock(this.db, id);
  }

  async createSession(x: SessionRecord): Promise<void> {
    await this.db
      .insertInto('sessions')
      .values({
        id: x.id,
        kind: x.kind,
        user_name: x.user,
        login: x.login,
        node: x.node,
        client_addr: x.clientAddr,
        command: x.command,
        pty: this.dialect === 'postgres' ? x.pty : x.pty ? 1 : 0,
        started_at: x.startedAt,
        ended_at: x.endedAt,
        exit_status: x.exitStatus,
        exit_signal: x.exitSignal,
        bytes_in: x.bytesIn,
        bytes_out: x.bytesOut,
        sha256_in: x.sha256In,
        sha256_out: x.sha256Out,
        recording: x.recording,
        end_reason: x.endReason,
        server_id: x.serverId ?? null,
        recording_bytes: x.recordingBytes ?? null,
        recording_chain: x.recordingChain ?? null,
      })
      .execute();
  }

  async endSession(id: string, e: Parameters<Store['endSession']>[1]): Promise<void> {
    await this.db
      .updateTable('sessions')
      .set({
        ended_at: e.endedAt,
        exit_status: e.exitStatus,
        exit_signal: e.exitSignal,
        bytes_in: e.bytesIn,
        bytes_out: e.bytesOut,
        sha256_in: e.sha256In,
        sha256_out: e.sha256Out,
        end_reason: e.endReason,
        recording_bytes: e.recordingBytes ?? null,
        recording_chain: e.recordingChain ?? null,
      })
      .where('id', '=', id)
      .execute();
  }

  async appendRecordingChunk(sessionId: string, part: RecordingPart, offset: number, data: Buffer): Promise<void> {
    await this.db
      .insertInto('recording_chunks')
      .values({ session_id: sessionId, part, offset, data })
      .onConflict((oc) => oc.columns(['session_id', 'part', 'offset']).doNothing())
      .execute();
  }

  async readRecordingChunks(sessionId: string, part: RecordingPart, fromOffset: number, limit: number): Promise<RecordingChunk[]> {
    const rows = await this.db
      .selectFrom('recording_chunks')
      .select(['offset', 'data'])
      .where('session_id', '=', sessionId)
      .where('part', '=', part)
      .where('offset', '>=', fromOffset)
      .orderBy('offset')
      .limit(limit)
      .execute();
    return rows.map((r) => ({ offset: num(r.offset), data: Buffer.from(r.data) }));
  }

  async recordingPartSize(sessionId: string, part: RecordingPart): Promise<number> {
    const r = await this.db
      .selectFrom('recording_chunks')
      .select(sql<number>`max(${sql.ref('offset')} + length(${sql.ref('data')}))`.as('size'))
      .where('session_id', '=', sessionId)
      .where('part', '=', part)
      .executeTakeFirst();
    return r?.size === null || r?.size === undefined ? 0 : num(r.size);
  }

  async getSession(id: string): Promise<SessionRecord | undefined> {
    const r = await this.db.selectFrom('sessions').selectAll().where('id', '=', id).executeTakeFirst();
    return r && toSession(r);
  }

  async listSessions(q: SessionQuery = {}): Promise<SessionRecord[]> {
    let query = this.db.selectFrom('sessions').selectAll();
    if (q.user !== undefined) query = query.where('user_name', '=', q.user);
    if (q.since !== undefined) query = query.where('started_at', '>=', q.since);
    if (q.until !== undefined) query = query.where('started_at', '<', q.until);
    if (q.open) query = query.where('ended_at', 'is', null);
    if (q.serverId !== undefined) query = query.where((eb) => eb.or([eb('server_id', '=', q.serverId!), eb('server_id', 'is', null)]));
    const rows = await query.orderBy('started_at', 'desc').orderBy('id').limit(q.limit ?? 100).execute();
    return rows.map(toSession);
  }

  putNode(node: NodeRecord): Promise<void> {
    return inventory.putNode(this.db, node);
  }

  getNode(name: string): Promise<NodeRecord | undefined> {
    return inventory.getNode(this.db, name);
  }

  listNodes(): Promise<NodeRecord[]> {
    return inventory.listNodes(this.db);
  }

  deleteNode(name: string): Promise<boolean> {
    return inventory.deleteNode(this.db, name);
  }

  async requestSessionEnd(r: SessionEndRequest): Promise<void> {
    await this.db
      .insertInto('live_session_ends')
      .values({ session_id: r.sessionId, message: r.message, requested_by: r.requestedBy, requested_at: r.requestedAt })
      .onConflict((oc) => oc.column('session_id').doNothing())
      .execute();
  }

  async takeSessionEndRequests(sessionIds: readonly string[]): Promise<SessionEndRequest[]> {
    if (sessionIds.length === 0) return [];
    // DELETE ... RETURNING (SQLite ≥ 3.35, PostgreSQL): taken and removed in one statement, so two
    // polls never act on one request twice.
    const rows = await this.db.deleteFrom('live_session_ends').where('session_id', 'in', [...sessionIds]).returningAll().execute();
    return rows.map((r) => ({ sessionId: r.session_id, message: r.message, requestedBy: r.requested_by, requestedAt: Number(r.requested_at) }));
  }

  createJoinToken(token: JoinTokenRecord): Promise<void> {
    return inventory.createJoinToken(this.db, token);
  }

  consumeJoinToken(tokenHash: string, now: number, node: string): Promise<JoinTokenRecord | undefined> {
    return inventory.consumeJoinToken(this.db, tokenHash, now, node);
  }

  getJoinToken(tokenHash: string): Promise<JoinTokenRecord | undefined> {
    return inventory.getJoinToken(this.db, tokenHash);
  }

  listJoinTokens(): Promise<JoinTokenRecord[]> {
    return inventory.listJoinTokens(this.db);
  }

  async indexSessionLines(sessionId: string, lines: readonly SessionLine[]): Promise<void> {
    if (lines.length === 0) return;
    const rows = lines.map((l) => sessionLineRow(sessionId, l));
    // One statement per few hundred rows (SQLite's bound-parameter limit; one round trip on PostgreSQL).
    // A line already indexed (a retried batch) is kept as it was.
    await this.db.transaction().execute(async (tx) => {
      for (let i = 0; i < rows.length; i += 500) {
        await tx
          .insertInto('session_lines')
          .values(rows.slice(i, i + 500))
          .onConflict((oc) => oc.columns(['session_id', 'seq']).doNothing())
          .execute();
      }
    });
  }

  async clearSessionLines(sessionId: string): Promise<void> {
    await this.db.deleteFrom('session_lines').where('session_id', '=', sessionId).execute();
  }

  async searchSessions(q: SearchQuery): Promise<SearchHit[]> {
    const terms = parseSearchQuery(q.text);
    const filters = [sql`true`];
    if (q.user !== undefined) filters.push(sql`s.user_name = ${q.user}`);
    // `node1` matches `node1:22`: nodes are indexed as dialled, host:port.
    if (q.node !== undefined) filters.push(sql`(s.node = ${q.node} OR s.node LIKE ${`${q.node.replace(/[\\%_]/g, (c) => `\\${c}`)}:%`} ESCAPE '\\')`);
    if (q.since !== undefined) filters.push(sql`s.started_at >= ${q.since}`);
    if (q.until !== undefined) filters.push(sql`s.started_at < ${q.until}`);
    const where = sql.join(filters, sql` AND `);
    const limit = q.limit ?? 50;
    const skip = q.skip ?? 0;
    type Row = { session_id: string; seq: number; offset_ms: number; text: string; user_name: string; login: string; node: string; started_at: number };
    // Ties in rank go to the newer session, then to the earlier line, so pages never overlap.
    const found =
      this.dialect === 'postgres'
        ? await sql<Row>`
            SELECT l.session_id, l.seq, l.offset_ms, l.text, s.user_name, s.login, s.node, s.started_at
            FROM session_lines l JOIN sessions s ON s.id = l.session_id, to_tsquery('simple', ${tsQuery(terms)}) q
            WHERE l.tsv @@ q AND ${where}
            ORDER BY ts_rank(l.tsv, q) DESC, s.started_at DESC, l.session_id, l.seq
            LIMIT ${limit} OFFSET ${skip}`.execute(this.db)
        : await sql<Row>`
            SELECT l.session_id, l.seq, l.offset_ms, l.text, s.user_name, s.login, s.node, s.started_at
            FROM session_lines_fts f JOIN session_lines l ON l.id = f.rowid JOIN sessions s ON s.id = l.session_id
            WHERE session_lines_fts MATCH ${fts5Query(terms)} AND ${where}
            ORDER BY bm25(session_lines_fts), s.started_at DESC, l.session_id, l.seq
            LIMIT ${limit} OFFSET ${skip}`.execute(this.db);
    const hits = found.rows;
    if (hits.length === 0) return [];
    // The lines beside each hit, a query per CONTEXT_HITS hits: Kysely compiles an OR of N terms
    // by recursing N deep, so a page of 10,000 hits in one query overflowed the stack.
    const wanted = hits.flatMap((h) => [
      [h.session_id, num(h.seq) - 1],
      [h.session_id, num(h.seq) + 1],
    ]) as Array<[string, number]>;
    const context: Array<{ session_id: string; seq: number | string | bigint; text: string }> = [];
    for (let i = 0; i < wanted.length; i += 2 * CONTEXT_HITS) {
      const part = wanted.slice(i, i + 2 * CONTEXT_HITS);
      context.push(
        ...(await this.db
          .selectFrom('session_lines')
          .select(['session_id', 'seq', 'text'])
          .where((eb) => eb.or(part.map(([sid, seq]) => eb.and([eb('session_id', '=', sid), eb('seq', '=', seq)]))))
          .execute()),
      );
    }
    const byKey = new Map(context.map((c) => [`${c.session_id}/${num(c.seq)}`, c.text]));
    return hits.map((h) => ({
      sessionId: h.session_id,
      user: h.user_name,
      login: h.login,
      node: h.node,
      startedAt: num(h.started_at),
      seq: num(h.seq),
      offsetMs: num(h.offset_ms),
      line: h.text,
      before: byKey.get(`${h.session_id}/${num(h.seq) - 1}`) ?? null,
      after: byKey.get(`${h.session_id}/${num(h.seq) + 1}`) ?? null,
    }));
  }

  async appendEvent(e: AuditEvent): Promise<void> {
    await this.db
      .insertInto('audit_events')
      .values({ id: e.id, event: e.event, time: e.time, user_name: e.user, fields: JSON.stringify(e.fields) })
      .execute();
  }

  async listEvents(q: EventQuery = {}): Promise<AuditEvent[]> {
    let query = this.db.selectFrom('audit_events').selectAll();
    if (q.types?.length) query = query.where('event', 'in', [...q.types]);
    if (q.user !== undefined) query = query.where('user_name', '=', q.user);
    if (q.since !== undefined) query = query.where('time', '>=', q.since);
    if (q.until !== undefined) query = query.where('time', '<', q.until);
    const rows = await query.orderBy('seq', 'desc').limit(q.limit ?? 100).execute();
    return rows.map((r) => ({
      id: r.id,
      event: r.event,
      time: num(r.time),
      user: r.user_name,
      fields: JSON.parse(r.fields) as Record<string, unknown>,
    }));
  }
}
