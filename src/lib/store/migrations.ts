import { sql, type Kysely, type Migration, type MigrationProvider } from 'kysely';

/*
 * Schema migrations, in order. Kept in code (not files) so the built CLI needs nothing beside it.
 * Types are chosen to mean the same on SQLite and PostgreSQL: text, bigint epoch ms, JSON as text.
 */
export type Dialect = 'sqlite' | 'postgres';

const migrations = (dialect: Dialect): Record<string, Migration> => ({
  '0001_initial': {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('cert_authorities')
        .addColumn('type', 'text', (c) => c.primaryKey())
        .addColumn('private_key', 'text', (c) => c.notNull())
        .addColumn('public_key', 'text', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .execute();
      await db.schema
        .createTable('users')
        .addColumn('name', 'text', (c) => c.primaryKey())
        .addColumn('logins', 'text', (c) => c.notNull())
        .addColumn('roles', 'text', (c) => c.notNull())
        .addColumn('password_hash', 'text')
        .addColumn('otp_secret', 'text')
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('locked_until', 'bigint')
        .execute();
      await db.schema
        .createTable('signup_tokens')
        .addColumn('token_hash', 'text', (c) => c.primaryKey())
        .addColumn('user_name', 'text', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('expires_at', 'bigint', (c) => c.notNull())
        .addColumn('used_at', 'bigint')
        .execute();
      await db.schema.createIndex('signup_tokens_user').on('signup_tokens').column('user_name').execute();
      await db.schema
        .createTable('issued_certs')
        .addColumn('serial', 'text', (c) => c.primaryKey())
        .addColumn('type', 'text', (c) => c.notNull())
        .addColumn('key_id', 'text', (c) => c.notNull())
        .addColumn('principals', 'text', (c) => c.notNull())
        .addColumn('valid_after', 'bigint', (c) => c.notNull())
        .addColumn('valid_before', 'bigint', (c) => c.notNull())
        .addColumn('fingerprint', 'text', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .execute();
      await db.schema
        .createTable('audit_events')
        // The sequence gives a total order for events within one millisecond.
        .addColumn('seq', dialect === 'postgres' ? 'bigserial' : 'integer', (c) =>
          dialect === 'postgres' ? c.primaryKey() : c.primaryKey().autoIncrement(),
        )
        .addColumn('id', 'text', (c) => c.notNull().unique())
        .addColumn('event', 'text', (c) => c.notNull())
        .addColumn('time', 'bigint', (c) => c.notNull())
        .addColumn('user_name', 'text')
        .addColumn('fields', 'text', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('audit_events_time').on('audit_events').column('time').execute();
    },
  },
  '0002_web_login': {
    async up(db: Kysely<unknown>) {
      // The OTP secret shown on the signup page lives with the token until signup completes.
      await db.schema.alterTable('signup_tokens').addColumn('otp_secret', 'text').execute();
      await db.schema
        .createTable('login_failures')
        .addColumn('user_name', 'text', (c) => c.notNull())
        .addColumn('time', 'bigint', (c) => c.notNull())
        .addColumn('reason', 'text', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('login_failures_user_time').on('login_failures').columns(['user_name', 'time']).execute();
      await db.schema
        .createTable('web_sessions')
        .addColumn('token_hash', 'text', (c) => c.primaryKey())
        .addColumn('user_name', 'text', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('expires_at', 'bigint', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('web_sessions_user').on('web_sessions').column('user_name').execute();
    },
  },
  '0003_sessions': {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('sessions')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('kind', 'text', (c) => c.notNull())
        .addColumn('user_name', 'text', (c) => c.notNull())
        .addColumn('login', 'text', (c) => c.notNull())
        .addColumn('node', 'text', (c) => c.notNull())
        .addColumn('client_addr', 'text', (c) => c.notNull())
        .addColumn('command', 'text')
        .addColumn('pty', 'boolean', (c) => c.notNull())
        .addColumn('started_at', 'bigint', (c) => c.notNull())
        .addColumn('ended_at', 'bigint')
        .addColumn('exit_status', 'integer')
        .addColumn('exit_signal', 'text')
        .addColumn('bytes_in', 'bigint', (c) => c.notNull())
        .addColumn('bytes_out', 'bigint', (c) => c.notNull())
        .addColumn('sha256_in', 'text')
        .addColumn('sha256_out', 'text')
        .addColumn('recording', 'text', (c) => c.notNull())
        .addColumn('end_reason', 'text')
        .execute();
      await db.schema.createIndex('sessions_started').on('sessions').column('started_at').execute();
      await db.schema.createIndex('sessions_user').on('sessions').columns(['user_name', 'started_at']).execute();
    },
  },
  '0004_otp_replay': {
    async up(db: Kysely<unknown>) {
      await db.schema.alterTable('users').addColumn('otp_last_step', 'bigint').execute();
    },
  },
  '0005_shared_recordings': {
    async up(db: Kysely<unknown>) {
      // Which daemon recorded the session (only it may close the session as interrupted after a
      // crash), and where its recording was sealed (signed end: bytes and chain head).
      await db.schema.alterTable('sessions').addColumn('server_id', 'text').execute();
      await db.schema.alterTable('sessions').addColumn('recording_bytes', 'bigint').execute();
      await db.schema.alterTable('sessions').addColumn('recording_chain', 'text').execute();
      // Recordings shipped to the shared store, as append-only chunks by byte offset.
      await db.schema
        .createTable('recording_chunks')
        .addColumn('session_id', 'text', (c) => c.notNull())
        .addColumn('part', 'text', (c) => c.notNull())
        .addColumn('offset', 'bigint', (c) => c.notNull())
        .addColumn('data', dialect === 'postgres' ? 'bytea' : 'blob', (c) => c.notNull())
        .addPrimaryKeyConstraint('recording_chunks_pk', ['session_id', 'part', 'offset'])
        .execute();
    },
  },
  '0006_inventory': {
    async up(db: Kysely<unknown>) {
      // JSON; null (users from before 0006) means every node, as the default does.
      await db.schema.alterTable('users').addColumn('node_labels', 'text').execute();
      await db.schema
        .createTable('nodes')
        .addColumn('name', 'text', (c) => c.primaryKey())
        .addColumn('host', 'text', (c) => c.notNull())
        .addColumn('port', 'integer', (c) => c.notNull())
        .addColumn('labels', 'text', (c) => c.notNull())
        .addColumn('added_by', 'text', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('host_key_fingerprint', 'text')
        .execute();
      await db.schema.createIndex('nodes_addr').on('nodes').columns(['host', 'port']).execute();
      await db.schema
        .createTable('join_tokens')
        .addColumn('token_hash', 'text', (c) => c.primaryKey())
        .addColumn('type', 'text', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('expires_at', 'bigint', (c) => c.notNull())
        .addColumn('used_at', 'bigint')
        .addColumn('used_by', 'text')
        .execute();
    },
  },
  '0007_search': {
    async up(db: Kysely<unknown>) {
      // What sessions showed, line by line, with `tokens` (search-query.ts) as the searched column.
      await db.schema
        .createTable('session_lines')
        .addColumn('id', dialect === 'postgres' ? 'bigserial' : 'integer', (c) => (dialect === 'postgres' ? c.primaryKey() : c.primaryKey().autoIncrement()))
        .addColumn('session_id', 'text', (c) => c.notNull())
        .addColumn('seq', 'integer', (c) => c.notNull())
        .addColumn('offset_ms', 'bigint', (c) => c.notNull())
        .addColumn('text', 'text', (c) => c.notNull())
        .addColumn('tokens', 'text', (c) => c.notNull())
        .addUniqueConstraint('session_lines_seq', ['session_id', 'seq'])
        .execute();
      if (dialect === 'postgres') {
        // tsvector + GIN rather than pg_trgm: word, phrase (<->) and prefix (:*) matching mean
        // what FTS5's do on SQLite, over the same tokens, so both backends pass one contract;
        // trigram similarity would rank and match substrings differently, and its index is larger.
        await sql`ALTER TABLE session_lines ADD COLUMN tsv tsvector GENERATED ALWAYS AS (to_tsvector('simple', tokens)) STORED`.execute(db);
        await sql`CREATE INDEX session_lines_tsv ON session_lines USING gin (tsv)`.execute(db);
      } else {
        // External-content FTS5: the tokens live once, in session_lines; triggers keep the index in step.
        await sql`CREATE VIRTUAL TABLE session_lines_fts USING fts5(tokens, content='session_lines', content_rowid='id', tokenize='unicode61 remove_diacritics 0')`.execute(db);
        await sql`CREATE TRIGGER session_lines_ai AFTER INSERT ON session_lines BEGIN INSERT INTO session_lines_fts(rowid, tokens) VALUES (new.id, new.tokens); END`.execute(db);
        await sql`CREATE TRIGGER session_lines_ad AFTER DELETE ON session_lines BEGIN INSERT INTO session_lines_fts(session_lines_fts, rowid, tokens) VALUES ('delete', old.id, old.tokens); END`.execute(db);
      }
      await db.schema.createIndex('sessions_node').on('sessions').columns(['node', 'started_at']).execute();
    },
  },
  '0008_live': {
    async up(db: Kysely<unknown>) {
      // One pending end request per session; the daemon relaying it deletes the row when it acts.
      await db.schema
        .createTable('live_session_ends')
        .addColumn('session_id', 'text', (c) => c.primaryKey())
        .addColumn('message', 'text', (c) => c.notNull())
        .addColumn('requested_by', 'text', (c) => c.notNull())
        .addColumn('requested_at', 'bigint', (c) => c.notNull())
        .execute();
    },
  },
  '0009_revocation': {
    async up(db: Kysely<unknown>) {
      // Certificates issued before this time are refused (tctl users reset); null: never reset.
      await db.schema.alterTable('users').addColumn('credentials_reset_at', 'bigint').execute();
      // tctl lock: one target each (user, login, node or session); expires_at null means until removed.
      await db.schema
        .createTable('locks')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('kind', 'text', (c) => c.notNull())
        .addColumn('target', 'text', (c) => c.notNull())
        .addColumn('message', 'text', (c) => c.notNull())
        .addColumn('expires_at', 'bigint')
        .addColumn('created_by', 'text', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .execute();
      // The KRL lists unexpired user certificates; the proxy looks a certificate up by serial (the primary key).
      await db.schema.createIndex('issued_certs_valid_before').on('issued_certs').column('valid_before').execute();
    },
  },
});

export function migrationProvider(dialect: Dialect): MigrationProvider {
  return { getMigrations: async () => migrations(dialect) };
}
