import crypto from 'node:crypto';
import type { SessionRecord } from '../../src/lib/store/types.js';

/** A finished shell session's index row for `user`, started at `startedAt` (epoch ms). */
export function sessionRow(user: string, startedAt: number, extra: Partial<SessionRecord> = {}): SessionRecord {
  const id = crypto.randomUUID();
  return {
    id,
    kind: 'shell',
    user,
    login: user,
    node: 'node1:22',
    clientAddr: '127.0.0.1',
    command: null,
    pty: true,
    startedAt,
    endedAt: startedAt + 60_000,
    exitStatus: 0,
    exitSignal: null,
    bytesIn: 10,
    bytesOut: 20,
    sha256In: null,
    sha256Out: null,
    recording: `${id}.cast`,
    endReason: 'exit',
    ...extra,
  };
}
