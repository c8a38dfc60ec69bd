import fs from 'node:fs';
import type { RecordingChunk, RecordingPart, Store } from '../store/index.js';

/** Bytes per chunk read from a local recording. */
const CHUNK_BYTES = 64 * 1024;

/**
 * A running recording read as the shared store's chunks, from the local file another process on
 * this machine writes (a sibling SSH worker, with the embedded SQLite store: the workers share the
 * data dir). The live view and `tsh join` follow another worker's session through it exactly as
 * they follow another daemon's shipped recording (followShipped). Only whole lines are handed out:
 * the writer may be in the middle of one.
 */
export function localRecordingChunks(localPath: (id: string, part: RecordingPart) => string): Pick<Store, 'readRecordingChunks'> {
  return {
    async readRecordingChunks(sessionId, part, fromOffset, limit): Promise<RecordingChunk[]> {
      let fd: number;
      try {
        fd = fs.openSync(localPath(sessionId, part), 'r');
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
        throw err;
      }
      try {
        const size = fs.fstatSync(fd).size;
        const want = Math.min(size - fromOffset, CHUNK_BYTES * limit);
        if (want <= 0) return [];
        const buf = Buffer.allocUnsafe(want);
        const got = fs.readSync(fd, buf, 0, want, fromOffset);
        const end = buf.subarray(0, got).lastIndexOf(0x0a) + 1;
        const out: RecordingChunk[] = [];
        for (let at = 0; at < end; at += CHUNK_BYTES) out.push({ offset: fromOffset + at, data: Buffer.from(buf.subarray(at, Math.min(end, at + CHUNK_BYTES))) });
        return out;
      } finally {
        fs.closeSync(fd);
      }
    },
  };
}
