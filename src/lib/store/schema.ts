import type { Generated } from 'kysely';

/** Kysely table types: the SQL shape (snake_case, JSON as text, times as epoch ms). */
export interface Database {
  cert_authorities: { type: string; private_key: string; public_key: string; created_at: number };
  users: {
    name: string;
    logins: string;
    roles: string;
    password_hash: string | null;
    otp_secret: string | null;
    created_at: number;
    locked_until: number | null;
    otp_last_step: number | null;
    node_labels: string | null;
    credentials_reset_at: number | null;
  };
  locks: { id: string; kind: string; target: string; message: string; expires_at: number | null; created_by: string; created_at: number };
  nodes: { name: string; host: string; port: number; labels: string; added_by: string; created_at: number; host_key_fingerprint: string | null };
  join_tokens: { token_hash: string; type: string; created_at: number; expires_at: number; used_at: number | null; used_by: string | null };
  signup_tokens: { token_hash: string; user_name: string; created_at: number; expires_at: number; used_at: number | null; otp_secret: string | null };
  /** tctl sessions end for a session another daemon relays (0008): its owner polls and ends it. */
  live_session_ends: { session_id: string; message: string; requested_by: string; requested_at: number };
  login_failures: { user_name: string; time: number; reason: string };
  web_sessions: { token_hash: string; user_name: string; created_at: number; expires_at: number };
  issued_certs: {
    serial: string;
    type: string;
    key_id: string;
    principals: string;
    valid_after: number;
    valid_before: number;
    fingerprint: string;
    created_at: number;
  };
  sessions: {
    id: string;
    kind: string;
    user_name: string;
    login: string;
    node: string;
    client_addr: string;
    command: string | null;
    pty: number | boolean;
    started_at: number;
    ended_at: number | null;
    exit_status: number | null;
    exit_signal: string | null;
    bytes_in: number;
    bytes_out: number;
    sha256_in: string | null;
    sha256_out: string | null;
    recording: string;
    end_reason: string | null;
    server_id: string | null;
    recording_bytes: number | null;
    recording_chain: string | null;
  };
  recording_chunks: { session_id: string; part: string; offset: number; data: Buffer };
  session_lines: { id: Generated<number>; session_id: string; seq: number; offset_ms: number; text: string; tokens: string };
  audit_events: { seq: Generated<number>; id: string; event: string; time: number; user_name: string | null; fields: string };
}
