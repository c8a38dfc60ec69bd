import { z } from 'zod';
import { formatDuration } from '../duration.js';
import type { SessionRecord } from '../store/index.js';

/**
 * A session on the wire: listings, the admin API and the web API (DESIGN.md: `id` first,
 * snake_case fields, ISO times). The one wire shape of a session index row; both APIs validate
 * with this schema, and SessionRecord (the store's row) is the one internal shape.
 */
export const sessionJson = z.object({
  id: z.string(),
  user: z.string(),
  login: z.string(),
  node: z.string(),
  kind: z.string(),
  command: z.string().nullable(),
  started_at: z.string(),
  ended_at: z.string().nullable(),
  exit_status: z.number().nullable(),
  exit_signal: z.string().nullable(),
  bytes_in: z.number(),
  bytes_out: z.number(),
  client_addr: z.string(),
  end_reason: z.string().nullable(),
  /** Where the recording was sealed (its signed end), for verifiers that fetch the recording. */
  recording_bytes: z.number().nullable(),
  recording_chain: z.string().nullable(),
});
export type SessionJson = z.infer<typeof sessionJson>;

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
