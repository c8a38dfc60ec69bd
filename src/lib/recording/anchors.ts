import crypto from 'node:crypto';
import fs from 'node:fs';
import type { Checkpoint } from './integrity.js';

/*
 * Recording anchors off the data path. Each signed checkpoint (integrity.ts) is also written to the
 * audit log as a `recording.checkpoint` event: {sid, cp, bytes, events, time, chain}, where `chain`
 * is the SHA-256 of the first `bytes` bytes of the `.cast`. The audit stream leaves the machine
 * (the daemon's log lines, `tctl events ls` exports), so whoever can rewrite a recording, its
 * sidecar and the session index, even re-signing with a stolen recording key, still cannot make
 * an edited recording agree with anchors already shipped. One event per checkpoint: checkpoints
 * are periodic (every few seconds, only when something new was recorded) and the end record is
 * one more, so the volume is bounded by session time, not by output.
 * The check needs neither the sidecar nor the key: it hashes the `.cast` itself, snapshotting the
 * hash at each anchor's offset.
 */
export interface RecordingAnchor {
  /** `cp` sequence number, or `complete`/`interrupted` for the end record. */
  cp: number | 'complete' | 'interrupted';
  bytes: number;
  chain: string;
}

/** The audit fields of a checkpoint's anchor event. */
export function anchorFields(sid: string, c: Checkpoint): Record<string, unknown> {
  return { sid, cp: c.kind === 'cp' ? c.n : c.kind, events: c.events, bytes: c.bytes, time: c.time, chain: c.chain };
}

/** An anchor from an audit event's fields (`recording.checkpoint`), or undefined when they are not one. */
export function anchorFromFields(f: Record<string, unknown>): RecordingAnchor | undefined {
  const cp = f.cp;
  if (!(typeof cp === 'number' || cp === 'complete' || cp === 'interrupted')) return undefined;
  if (typeof f.bytes !== 'number' || !Number.isSafeInteger(f.bytes) || f.bytes < 0) return undefined;
  if (typeof f.chain !== 'string' || !/^[0-9a-f]{64}$/.test(f.chain)) return undefined;
  return { cp, bytes: f.bytes, chain: f.chain };
}

export interface AnchorCheck {
  verdict: 'agrees' | 'disagrees' | 'none';
  summary: string;
  anchors: number;
  /** The bytes of the `.cast` the agreeing anchors cover. */
  anchored_bytes: number;
  /** The first anchor the recording does not match. */
  mismatch: { cp: RecordingAnchor['cp']; bytes: number } | null;
}

/** Checks a `.cast` file against the anchors the audit log holds for it. */
export async function checkAnchors(castFile: string, anchors: readonly RecordingAnchor[]): Promise<AnchorCheck> {
  if (anchors.length === 0) {
    return { verdict: 'none', summary: 'the audit log holds no checkpoint anchors for this recording (made before anchors existed, or its audit events are elsewhere)', anchors: 0, anchored_bytes: 0, mismatch: null };
  }
  const sorted = [...anchors].sort((a, b) => a.bytes - b.bytes);
  const hash = crypto.createHash('sha256');
  let read = 0;
  let good = 0;
  let i = 0;
  const disagree = (a: RecordingAnchor, why: string): AnchorCheck => ({
    verdict: 'disagrees',
    summary: `the recording does not agree with the audit log: ${why} (anchored up to byte ${good} of it)`,
    anchors: anchors.length,
    anchored_bytes: good,
    mismatch: { cp: a.cp, bytes: a.bytes },
  });
  const settle = (upTo: number): AnchorCheck | undefined => {
    // Every anchor at exactly this offset is decided by the hash so far.
    while (i < sorted.length && sorted[i]!.bytes === upTo) {
      const a = sorted[i]!;
      if (hash.copy().digest('hex') !== a.chain) return disagree(a, `checkpoint ${a.cp} says the first ${a.bytes} bytes hash to ${a.chain.slice(0, 16)}…, the file's do not`);
      good = a.bytes;
      i++;
    }
    return undefined;
  };
  const early = settle(0);
  if (early) return early;
  const fd = await fs.promises.open(castFile, 'r');
  try {
    const buf = Buffer.alloc(1 << 20);
    while (i < sorted.length) {
      // Read no further than the next anchor, so the hash can be snapshotted exactly there.
      const want = Math.min(buf.length, sorted[i]!.bytes - read);
      const { bytesRead } = await fd.read(buf, 0, want, read);
      if (bytesRead === 0) return disagree(sorted[i]!, `checkpoint ${sorted[i]!.cp} covers ${sorted[i]!.bytes} bytes, the file has ${read}`);
      hash.update(buf.subarray(0, bytesRead));
      read += bytesRead;
      const r = settle(read);
      if (r) return r;
    }
  } finally {
    await fd.close();
  }
  const size = (await fs.promises.stat(castFile)).size;
  const last = sorted[sorted.length - 1]!;
  const tail = size - good;
  return {
    verdict: 'agrees',
    summary: `agrees with ${anchors.length} checkpoint anchor${anchors.length === 1 ? '' : 's'} in the audit log up to byte ${good}${tail > 0 ? ` (${tail} later bytes are not anchored${last.cp === 'complete' ? ': after the end record' : ''})` : ''}`,
    anchors: anchors.length,
    anchored_bytes: good,
    mismatch: null,
  };
}
