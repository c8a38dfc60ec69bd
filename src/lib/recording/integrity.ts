import crypto, { type KeyObject } from 'node:crypto';
import zlib from 'node:zlib';
import { CastLineScanner } from './cast-lines.js';

/*
 * Integrity beside the `.cast` (DESIGN.md, Recording), in `ID.cast.chain`, newline-delimited JSON:
 *   {"tollgate_chain":2,"session":ID,"hash":"sha256","key":"SHA256:..."}      header
 *   {"h":["<8 hex>",...]}                                                       per flush: each new event line's CRC-32
 *   {"cp":N,"events":E,"bytes":L,"time":T,"chain":HEX,"sig":B64}                signed checkpoint
 *   {"end":"complete"|"interrupted","events":E,"bytes":L,"time":T,"chain":HEX,"sig":B64}
 * An "event" is one line of the .cast including its newline; the header line is event 0.
 * The chain is SHA-256 itself, run over the file as it is written: its state after each block
 * is a function of the state before and the block, and `chain` at a checkpoint is the digest of
 * the first L bytes. One pass of one hash serves the checkpoints and the final detached SSHSIG
 * (whose message hash is that same digest), so recording pays for hashing once.
 * A checkpoint signs (session, kind, E, L, T, chain) with the cluster's recording key (raw
 * ed25519 over `checkpointMessage`), so a recording cut short verifies up to its last checkpoint.
 * The per-event CRC-32s are unsigned and not trusted: they only let the verifier name the first
 * altered event inside a checkpoint interval that the signature rejected.
 */
/** The SSHSIG namespace of recording signatures (`ssh-keygen -Y verify -n`). */
export const RECORDING_NAMESPACE = 'tollgate-recording';
/**
 * The namespace of the signature over an interrupted recording's checkpointed prefix: different,
 * so a prefix signature can never pass for the signature of a complete recording.
 */
export const RECORDING_INTERRUPTED_NAMESPACE = 'tollgate-recording-interrupted';
export const CHAIN_VERSION = 2;

export type CheckpointKind = 'cp' | 'complete' | 'interrupted';

export interface Checkpoint {
  kind: CheckpointKind;
  /** Sequence number for `cp`; 0 for end records. */
  n: number;
  events: number;
  bytes: number;
  /** asciicast time (seconds from the start) of the last event covered. */
  time: number;
  chain: string;
  sig: string;
}

/** What signs a recording: the cluster's recording key, held by the auth service. */
export interface RecordingSigner {
  readonly publicBlob: Buffer;
  readonly identity: string;
  readonly namespace: string;
  /** Raw ed25519 signature (checkpoints). */
  sign(message: Buffer): Buffer;
  /**
   * The private key, for the recorder's worker threads in this process (writer-pool.ts): they
   * sign checkpoints where they write. Absent: recordings are written in the calling thread.
   */
  readonly key?: KeyObject;
  /** Armored SSHSIG over a message given its SHA-256 (the final `.sig`); namespace defaults to RECORDING_NAMESPACE. */
  signSshsig(sha256: Buffer, namespace?: string): string;
}

/** The unsigned per-event locator: CRC-32 of the line, as 8 hex digits (zlib's, native). */
export function eventCrc(line: Buffer | string, previous?: number): number {
  return zlib.crc32(line, previous);
}

export function crcHex(crc: number): string {
  return (crc >>> 0).toString(16).padStart(8, '0');
}

export function checkpointMessage(session: string, c: Omit<Checkpoint, 'sig' | 'n'>): Buffer {
  return Buffer.from(`tollgate-recording-checkpoint-v1\n${session}\n${c.kind}\n${c.events}\n${c.bytes}\n${c.time}\n${c.chain}\n`);
}

export function checkpointLine(c: Checkpoint): string {
  const { kind, n, ...rest } = c;
  return `${JSON.stringify(kind === 'cp' ? { cp: n, ...rest } : { end: kind, ...rest })}\n`;
}

export function signCheckpoint(signer: RecordingSigner, session: string, c: Omit<Checkpoint, 'sig'>): Checkpoint {
  return { ...c, sig: signer.sign(checkpointMessage(session, c)).toString('base64') };
}

export function chainPath(castFile: string): string {
  return `${castFile}.chain`;
}

export function sigPath(castFile: string): string {
  return `${castFile}.sig`;
}

/**
 * The writer's side: hashes what was just written to the `.cast` and returns the sidecar text to
 * append after it (the caller writes both, cast first, so a checkpoint never covers bytes that
 * are not on disk yet). Runs at flush time (every 250 ms or 64 KiB), never per relayed chunk.
 */
export class ChainWriter {
  private readonly hash = crypto.createHash('sha256');
  private events = 0;
  private bytes = 0;
  private time = 0;
  private seq = 0;
  private lastCheckpointEvents = 0;
  private lastCheckpointAt: number;
  /** The signed end (bytes and chain head), once the `complete` record is made. */
  sealed: { bytes: number; chain: string } | undefined;

  constructor(
    private readonly session: string,
    private readonly signer: RecordingSigner,
    private readonly intervalMs: number,
    private readonly now: () => number,
    /** Sees each signed checkpoint as it is made (the recorder anchors it in the audit log: anchors.ts). */
    private readonly onCheckpoint?: (c: Checkpoint) => void,
  ) {
    this.lastCheckpointAt = now();
  }

  static header(session: string, fingerprint: string): string {
    return `${JSON.stringify({ tollgate_chain: CHAIN_VERSION, session, hash: 'sha256', key: fingerprint })}\n`;
  }

  /** Links `events` lines just written (each ends with "\n", `data` is exactly their bytes); returns sidecar text. */
  link(events: number, data: Buffer, time: number): string {
    this.hash.update(data);
    // CRCs of the encoded bytes, line by line, each with its "\n" (no second UTF-8 encoding of the strings).
    const crcs: string[] = [];
    new CastLineScanner().split(data, (piece, _offset, ends) => {
      if (ends) crcs.push(crcHex(eventCrc(piece)));
    });
    this.events += events;
    this.bytes += data.length;
    this.time = time;
    return `${JSON.stringify({ h: crcs })}\n`;
  }

  /** A signed checkpoint when the interval has passed and something new was linked; else ''. */
  maybeCheckpoint(): string {
    if (this.events === this.lastCheckpointEvents) return '';
    if (this.now() - this.lastCheckpointAt < this.intervalMs) return '';
    return this.checkpoint('cp');
  }

  checkpoint(kind: CheckpointKind): string {
    const c = signCheckpoint(this.signer, this.session, {
      kind,
      n: kind === 'cp' ? ++this.seq : 0,
      events: this.events,
      bytes: this.bytes,
      time: this.time,
      chain: this.hash.copy().digest('hex'),
    });
    if (kind !== 'cp') this.sealed = { bytes: c.bytes, chain: c.chain };
    this.lastCheckpointEvents = this.events;
    this.lastCheckpointAt = this.now();
    this.onCheckpoint?.(c);
    return checkpointLine(c);
  }

  /** SHA-256 of everything linked so far (the final SSHSIG's message hash). */
  digest(): Buffer {
    return this.hash.copy().digest();
  }
}
