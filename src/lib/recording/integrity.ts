import crypto from 'node:crypto';
import fs from 'node:fs';

/*
 * Integrity beside the `.cast` (DESIGN.md, Recording), in `ID.cast.chain`, newline-delimited JSON:
 *   {"tollgate_chain":1,"session":ID,"hash":"sha256","key":"SHA256:..."}     header
 *   {"h":["<11 chars>",...]}                                                    per flush: each new event line's hash, truncated
 *   {"cp":N,"events":E,"bytes":L,"time":T,"chain":HEX,"sig":B64}                signed checkpoint
 *   {"end":"complete"|"interrupted","events":E,"bytes":L,"time":T,"chain":HEX,"sig":B64}
 * An "event" is one line of the .cast including its newline; the header line is event 0.
 *   chain_0 = SHA-256("tollgate-chain-v1\0" || session id)
 *   chain_i = SHA-256(chain_{i-1} || SHA-256(line_i))
 * A checkpoint signs (session, kind, E, L, T, chain_E) with the cluster's recording key (raw
 * ed25519 over `checkpointMessage`), so a recording cut short verifies up to its last checkpoint.
 * The truncated per-event hashes are not trusted on their own (they are unsigned): they only let
 * the verifier name the first altered event inside a checkpoint interval the signature rejected.
 */
/** The SSHSIG namespace of recording signatures (`ssh-keygen -Y verify -n`). */
export const RECORDING_NAMESPACE = 'tollgate-recording';
/**
 * The namespace of the signature over an interrupted recording's checkpointed prefix: different,
 * so a prefix signature can never pass for the signature of a complete recording.
 */
export const RECORDING_INTERRUPTED_NAMESPACE = 'tollgate-recording-interrupted';
export const CHAIN_VERSION = 1;
export const EVENT_HASH_BYTES = 8;

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
  /** Armored SSHSIG over a message given its SHA-512 (the final `.sig`); namespace defaults to RECORDING_NAMESPACE. */
  signSshsig(sha512: Buffer, namespace?: string): string;
}

export function chainSeed(session: string): Buffer {
  return crypto.createHash('sha256').update(`tollgate-chain-v1\0${session}`).digest();
}

export function linkChain(chain: Buffer, eventHash: Buffer): Buffer {
  return crypto.createHash('sha256').update(chain).update(eventHash).digest();
}

export function shortHash(eventHash: Buffer): string {
  return eventHash.subarray(0, EVENT_HASH_BYTES).toString('base64url');
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
 * The writer's side: links each event line into the chain as it is flushed and appends the
 * sidecar records. Everything here runs at flush time (every 250 ms or 64 KiB), never per chunk.
 */
export class ChainWriter {
  private fd: number;
  private chain: Buffer;
  private events = 0;
  private bytes = 0;
  private time = 0;
  private seq = 0;
  private lastCheckpointEvents = 0;
  private lastCheckpointAt: number;

  constructor(
    readonly file: string,
    private readonly session: string,
    private readonly signer: RecordingSigner,
    private readonly intervalMs: number,
    private readonly now: () => number,
    fingerprint: string,
  ) {
    // Append-only and exclusive: a second writer (or a recovery racing this one) cannot interleave at an offset.
    this.fd = fs.openSync(file, 'ax', 0o644);
    this.chain = chainSeed(session);
    this.lastCheckpointAt = now();
    fs.writeSync(this.fd, `${JSON.stringify({ tollgate_chain: CHAIN_VERSION, session, hash: 'sha256', key: fingerprint })}\n`);
  }

  /**
   * Links lines that were just written to the `.cast` (each ends with "\n") and returns the
   * sidecar text to append; `time` is the asciicast time of the last of them.
   */
  link(lines: string[], byteLength: number, time: number): void {
    const short: string[] = new Array(lines.length);
    for (let i = 0; i < lines.length; i++) {
      const h = crypto.createHash('sha256').update(lines[i]!).digest();
      this.chain = linkChain(this.chain, h);
      short[i] = shortHash(h);
    }
    this.events += lines.length;
    this.bytes += byteLength;
    this.time = time;
    this.write(`${JSON.stringify({ h: short })}\n`);
  }

  /** Signs a checkpoint when the interval has passed and something new was linked. */
  maybeCheckpoint(): void {
    if (this.events === this.lastCheckpointEvents) return;
    if (this.now() - this.lastCheckpointAt < this.intervalMs) return;
    this.checkpoint('cp');
  }

  /** The signed end (bytes and chain head), once the `complete` record is written. */
  sealed: { bytes: number; chain: string } | undefined;

  checkpoint(kind: CheckpointKind): void {
    const c = signCheckpoint(this.signer, this.session, {
      kind,
      n: kind === 'cp' ? ++this.seq : 0,
      events: this.events,
      bytes: this.bytes,
      time: this.time,
      chain: this.chain.toString('hex'),
    });
    this.write(checkpointLine(c));
    if (kind !== 'cp') this.sealed = { bytes: c.bytes, chain: c.chain };
    this.lastCheckpointEvents = this.events;
    this.lastCheckpointAt = this.now();
  }

  private write(text: string): void {
    const data = Buffer.from(text);
    let off = 0;
    while (off < data.length) off += fs.writeSync(this.fd, data, off);
  }

  close(): void {
    if (this.fd < 0) return;
    try {
      fs.fsyncSync(this.fd);
    } catch {
      // best effort, as for the .cast
    }
    fs.closeSync(this.fd);
    this.fd = -1;
  }
}
