/** Wire types of the admin API (tctl ↔ auth service over DATA_DIR/admin.sock). JSON, snake_case. */
import type { PublicUser } from '../auth/auth-service.js';
import type { ErrorKind } from '../errors.js';

export const ADMIN_SOCKET = 'admin.sock';

export interface ApiError {
  error: { kind: ErrorKind; message: string; hint?: string };
}

export interface InviteResponse {
  user: string;
  url: string;
  token: string;
  expires_at: string;
  ttl_ms: number;
}

export interface StatusResponse {
  cluster_name: string;
  version: string;
  data_dir: string;
  roles: string[];
  started_at: string;
  users: number;
  certs_pinned: boolean;
  cert_source_addresses: string[];
  user_ca: { fingerprint: string; public_key: string };
  host_ca: { fingerprint: string; public_key: string };
  public_web_addr: string;
}

export interface CertResponse {
  certificate: string;
  serial: string;
  key_id: string;
  principals: string[];
  valid_after: string;
  valid_before: string;
}

export interface EventJson {
  id: string;
  event: string;
  time: string;
  user: string | null;
  [field: string]: unknown;
}

export type UsersResponse = PublicUser[];

export type { SessionJson } from '../recording/session-json.js';
