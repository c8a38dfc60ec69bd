import { formatDuration } from '../duration.js';
import type { SessionRecord } from '../store/index.js';

/** A session in listings and APIs (DESIGN.md: `id` first, snake_case fields, ISO times). */
export interface SessionJson {
  id: string;
  user: string;
  login: string;
  node: string;
  kind: string;
  command: string | null;
  started_at: string;
  ended_at: string | null;
  exit_status: number | null;
  exit_signal: string | null;
  bytes_in: number;
  bytes_out: number;
  client_addr: string;
  end_reason: string | null;
  /** Where the recording was sealed (its signed end), for verifiers that fetch the recording. */
  recording_bytes: number | null;
  recording_chain: string | null;
}

/** A session index row as the listings print it (DESIGN.md: snake_case, `id` first). */
export function sessionToJson(x: SessionRecord): SessionJson {
  return {
    id: x.id,
    user: x.user,
    login: x.login,
    node: x.node,
    kind: x.kind,
    command: x.command,
    started_at: new Date(x.startedAt).toISOString(),
    ended_at: x.endedAt === null ? null : new Date(x.endedAt).toISOString(),
    exit_status: x.exitStatus,
    exit_signal: x.exitSignal,
    bytes_in: x.bytesIn,
    bytes_out: x.bytesOut,
    client_addr: x.clientAddr,
    end_reason: x.endReason,
    recording_bytes: x.recordingBytes ?? null,
    recording_chain: x.recordingChain ?? null,
  };
}


/** The Duration and Exit columns of the session listings (tctl sessions ls, tsh recordings ls). */
export function sessionColumns(r: SessionJson): { duration: string; exit: string } {
  return {
    duration: r.ended_at ? formatDuration(Date.parse(r.ended_at) - Date.parse(r.started_at)) : 'running',
    exit: r.end_reason === 'interrupted' ? 'interrupted' : r.exit_status === null ? (r.exit_signal ?? '-') : String(r.exit_status),
  };
}

/** Where the index says a recording was sealed (its signed end), for verifyRecording's `sealed`. */
export function sealedOf(r: { recordingBytes?: number | null; recordingChain?: string | null }): { bytes: number; chain: string } | null {
  return r.recordingBytes != null && r.recordingChain ? { bytes: r.recordingBytes, chain: r.recordingChain } : null;
}
