import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { publicKeyFromBlob, verifySshsig } from '../ca/index.js';
import { badParameter } from '../errors.js';
import { CastLineScanner } from './cast-lines.js';
import type { AnchorCheck } from './anchors.js';
import { CHAIN_VERSION, type Checkpoint, type CheckpointKind, checkpointMessage, crcHex, eventCrc, RECORDING_INTERRUPTED_NAMESPACE } from './integrity.js';

/*
 * Verifies a recording against its sidecar (integrity.ts) and detached signature. The verdicts:
 *   verified    the whole file is covered by a signed end record (and its .sig matches);
 *   altered     a signed checkpoint does not match the file (the first altered event is named
 *               when the unsigned per-event hashes can place it), or the integrity data is forged;
 *   incomplete  the file verifies up to a checkpoint and was cut off there (a crash); whatever
 *               follows is reported as unverified, never as verified;
 *   unsigned    there is nothing to verify against.
 * Streams the file: memory stays bounded by the longest line.
 */
export type Verdict = 'verified' | 'altered' | 'incomplete' | 'unsigned';

export interface AlteredEvent {
  /** Event number: 0 is the header line, 1 the first event. */
  index: number;
  /** asciicast time of the event, when it parses. */
  time: number | null;
  /** Byte offset of the event's line in the file. */
  offset: number;
}

export interface VerifyResult {
  verdict: Verdict;
  /** One line for people: what holds and what does not. */
  summary: string;
  /** Seconds (asciicast time) the verified prefix reaches. */
  verifiedUntil: number;
  verifiedBytes: number;
  unverifiedBytes: number;
  fileBytes: number;
  event?: AlteredEvent;
  /** Whether the detached .sig (the stock ssh-keygen path) matched; null when there was none. */
  signature: boolean | null;
  /** The last signed checkpoint the file matches, and the end record if there is one. */
  lastCheckpoint?: Checkpoint;
  endRecord?: Checkpoint;
  /** SHA-256 of exactly the bytes the last good checkpoint covers, as they were checked (recovery signs this). */
  prefixSha256?: Buffer;
}

export interface VerifyInput {
  castFile: string;
  /** The sidecar text and signature text, when they come from elsewhere than beside the file (an API). */
  chainText?: string | null;
  sigText?: string | null;
  session?: string;
  publicBlob: Buffer;
  namespace: string;
  /**
   * What the session index says about the recording. `expectIntegrity`: it was recorded with a
   * sidecar (every recording the daemon makes is), so a missing sidecar is tampering, not age.
   * `sealed`: the signed end (bytes and chain head) the index kept when the session ended, so a
   * recording cut back to an earlier checkpoint with its end record removed reads as altered,
   * not as a crash.
   */
  expectIntegrity?: boolean;
  sealed?: { bytes: number; chain: string } | null;
}

interface Sidecar {
  session: string;
  hashes: string[];
  checkpoints: Checkpoint[];
  end: Checkpoint | undefined;
  problem: string | undefined;
}

/** A sidecar larger than this is not read (it would be about 1 GiB of events). */
const MAX_SIDECAR_BYTES = 256 << 20;

function parseSidecar(text: string, publicBlob: Buffer, expectedSession: string | undefined): Sidecar {
  const key = publicKeyFromBlob(publicBlob);
  const out: Sidecar = { session: '', hashes: [], checkpoints: [], end: undefined, problem: undefined };
  if (text.length > MAX_SIDECAR_BYTES) {
    out.problem = 'the integrity file is implausibly large';
    return out;
  }
  const lines = text.split('\n');
  // A crash can leave the last line half written; it is ignored, never trusted.
  if (lines.length && lines[lines.length - 1] !== '') lines.pop();
  for (const [i, line] of lines.entries()) {
    if (!line) continue;
    let rec: Record<string, unknown>;
    try {
      rec = JSON.parse(line) as Record<string, unknown>;
    } catch {
      out.problem = `the integrity file is malformed at line ${i + 1}`;
      return out;
    }
    if (i === 0) {
      if (rec.tollgate_chain !== CHAIN_VERSION || typeof rec.session !== 'string') {
        out.problem = 'the integrity file has no valid header';
        return out;
      }
      out.session = rec.session;
      if (expectedSession && rec.session !== expectedSession) {
        out.problem = `the integrity file belongs to session ${rec.session}, not ${expectedSession}`;
        return out;
      }
      continue;
    }
    if (Array.isArray(rec.h)) {
      for (const h of rec.h) out.hashes.push(String(h));
      continue;
    }
    const kind: CheckpointKind | undefined = typeof rec.cp === 'number' ? 'cp' : rec.end === 'complete' || rec.end === 'interrupted' ? rec.end : undefined;
    if (!kind || !Number.isSafeInteger(rec.events) || !Number.isSafeInteger(rec.bytes) || typeof rec.time !== 'number' || typeof rec.chain !== 'string' || typeof rec.sig !== 'string') {
      out.problem = `the integrity file is malformed at line ${i + 1}`;
      return out;
    }
    const c: Checkpoint = { kind, n: kind === 'cp' ? (rec.cp as number) : 0, events: rec.events as number, bytes: rec.bytes as number, time: rec.time, chain: rec.chain, sig: rec.sig };
    if (!crypto.verify(null, checkpointMessage(out.session, c), key, Buffer.from(c.sig, 'base64'))) {
      out.problem = `checkpoint ${kind === 'cp' ? c.n : kind} in the integrity file is not signed by the recording key`;
      return out;
    }
    const prev = out.checkpoints[out.checkpoints.length - 1];
    if (out.end || (prev && (c.events < prev.events || c.bytes < prev.bytes))) {
      out.problem = `the integrity file's checkpoints are out of order at line ${i + 1}`;
      return out;
    }
    out.checkpoints.push(c);
    if (kind !== 'cp') out.end = c;
  }
  // The writer signs a checkpoint right after the header: a sidecar without one was emptied.
  if (!out.problem && out.checkpoints.length === 0) out.problem = 'the integrity file has no signed checkpoint';
  return out;
}

function eventTime(head: Buffer): number | null {
  // The time is the first element: `[12.345, "o", ...`; the head holds at least that much.
  const m = /^\[\s*(-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)\s*,/.exec(head.toString('latin1'));
  return m ? Number(m[1]) : null;
}

function fmtTime(s: number): string {
  return `${s.toFixed(1)}s`;
}

const LINE_HEAD_BYTES = 64;

/** One line of the file, checksummed as it streams past (lines can be huge; they are never held whole). */
interface LineDigest {
  crc: number;
  head: Buffer;
  offset: number;
  length: number;
  complete: boolean;
}

/**
 * Streams the file's lines as SHA-256 digests, feeding `onBytes` every byte in order; stops
 * when `want()` says no more lines are needed.
 */
async function digestLines(file: string, want: () => boolean, onBytes: (b: Buffer) => void, onLine: (l: LineDigest) => boolean): Promise<void> {
  let crc = 0;
  let head: Buffer[] = [];
  let headLen = 0;
  let length = 0;
  let lineOffset = 0;
  const scanner = new CastLineScanner();
  const stream = fs.createReadStream(file, { highWaterMark: 1 << 20 });
  try {
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      const go = scanner.split(chunk, (piece, offset, ends) => {
        if (!want()) return false;
        crc = eventCrc(piece, crc);
        onBytes(piece);
        if (headLen < LINE_HEAD_BYTES) {
          head.push(piece.subarray(0, LINE_HEAD_BYTES - headLen));
          headLen += Math.min(piece.length, LINE_HEAD_BYTES - headLen);
        }
        length += piece.length;
        lineOffset = offset;
        if (!ends) return true;
        const keepGoing = onLine({ crc, head: Buffer.concat(head), offset, length, complete: true });
        crc = 0;
        head = [];
        headLen = 0;
        length = 0;
        return keepGoing;
      });
      if (!go) return;
    }
    if (length > 0 && want()) onLine({ crc, head: Buffer.concat(head), offset: lineOffset, length, complete: false });
  } finally {
    stream.destroy();
  }
}

/** The header's longest plausible line; a header past it is not read for its session. */
const MAX_HEADER_BYTES = 64 * 1024;

/** The `session` key of the `.cast` header (asciicast-writer.ts), or undefined when there is none or it does not parse. */
async function headerSession(file: string): Promise<string | undefined> {
  const fh = await fs.promises.open(file, 'r');
  try {
    const buf = Buffer.alloc(MAX_HEADER_BYTES);
    const { bytesRead } = await fh.read(buf, 0, buf.length, 0);
    const nl = buf.subarray(0, bytesRead).indexOf(0x0a);
    const head = JSON.parse(buf.subarray(0, nl < 0 ? bytesRead : nl).toString('utf8')) as Record<string, unknown>;
    return typeof head.session === 'string' ? head.session : undefined;
  } catch {
    return undefined;
  } finally {
    await fh.close();
  }
}

export async function verifyRecording(input: VerifyInput): Promise<VerifyResult> {
  const fileBytes = fs.statSync(input.castFile).size;
  const named = await headerSession(input.castFile);
  let tooLarge = false;
  const readOpt = (text: string | null | undefined, file: string): string | null => {
    if (text !== undefined) return text;
    try {
      if (fs.statSync(file).size > MAX_SIDECAR_BYTES) {
        tooLarge = true;
        return '';
      }
      return fs.readFileSync(file, 'utf8');
    } catch {
      return null;
    }
  };
  const chainText = readOpt(input.chainText, `${input.castFile}.chain`);
  const sigText = readOpt(input.sigText, `${input.castFile}.sig`);
  const base = { verifiedUntil: 0, verifiedBytes: 0, unverifiedBytes: fileBytes, fileBytes, signature: null as boolean | null };
  if (tooLarge) return { ...base, verdict: 'altered', summary: 'altered: the integrity or signature file is implausibly large' };
  // The header is signed with the rest, so a signed recording filed under another session's id
  // (a .cast, .chain and .sig copied whole) reads as altered, not as that session's evidence.
  if (named !== undefined && input.session !== undefined && named !== input.session) {
    return { ...base, verdict: 'altered', event: { index: 0, time: 0, offset: 0 }, summary: `altered: the recording's header names session ${named}, not ${input.session}` };
  }

  if (chainText === null) {
    if (input.expectIntegrity || input.sealed) return { ...base, verdict: 'altered', summary: `altered: the integrity file (${path.basename(input.castFile)}.chain) is missing` };
    return verifyWholeFile(input, sigText, base);
  }
  const side = parseSidecar(chainText, input.publicBlob, input.session);
  if (side.problem) return { ...base, verdict: 'altered', summary: `altered: ${side.problem}` };
  if (named !== undefined && named !== side.session) {
    return { ...base, verdict: 'altered', event: { index: 0, time: 0, offset: 0 }, summary: `altered: the recording's header names session ${named}, its integrity file ${side.session}` };
  }

  let index = 0;
  let offset = 0;
  let cpi = 0;
  let good: Checkpoint | undefined;
  let goodDigest: Buffer | undefined;
  let firstMismatch: AlteredEvent | undefined;
  let failed: VerifyResult | undefined;
  const sha256 = crypto.createHash('sha256');
  const end = side.end;
  const altered = (c: Checkpoint, why: string): VerifyResult => {
    const from = good?.bytes ?? 0;
    const at = firstMismatch ?? { index: good?.events ?? 0, time: good?.time ?? 0, offset: from };
    // The per-event hashes are unsigned: they place the change, they do not prove it.
    const where = firstMismatch
      ? `the first altered event is event ${at.index} at ${at.time === null ? 'an unreadable time' : fmtTime(at.time)} (byte ${at.offset})`
      : `the change is between byte ${from} and byte ${c.bytes} (events ${(good?.events ?? 0) + 1}–${c.events})`;
    return { ...base, verdict: 'altered', event: at, verifiedUntil: good?.time ?? 0, verifiedBytes: from, unverifiedBytes: fileBytes - from, summary: `altered: ${why}; ${where}; verified up to ${fmtTime(good?.time ?? 0)}` };
  };

  await digestLines(
    input.castFile,
    () => cpi < side.checkpoints.length,
    (b) => sha256.update(b),
    (line) => {
      const expected = side.hashes[index];
      if (!firstMismatch && (!line.complete || (expected !== undefined && expected !== crcHex(line.crc)))) {
        firstMismatch = { index, time: index === 0 ? 0 : eventTime(line.head), offset: line.offset };
      }
      if (!line.complete) return false;
      index++;
      offset += line.length;
      while (side.checkpoints[cpi] && index === side.checkpoints[cpi]!.events) {
        const c = side.checkpoints[cpi]!;
        if (offset !== c.bytes || sha256.copy().digest('hex') !== c.chain) {
          failed = altered(c, `checkpoint ${c.kind === 'cp' ? c.n : c.kind} does not match`);
          return false;
        }
        good = c;
        goodDigest = sha256.copy().digest();
        // Mismatches before a good checkpoint were in the unsigned hashes, not the file.
        firstMismatch = undefined;
        cpi++;
      }
      if (side.checkpoints[cpi] && index > side.checkpoints[cpi]!.events) {
        failed = altered(side.checkpoints[cpi]!, 'the file has more events than a checkpoint covers');
        return false;
      }
      return true;
    },
  );
  if (failed) return failed;
  const pending = side.checkpoints[cpi];
  if (pending) {
    // The file ends before a signed checkpoint: it was cut after it was signed.
    firstMismatch ??= { index, time: null, offset };
    return altered(pending, `the file was cut: checkpoint ${pending.kind === 'cp' ? pending.n : pending.kind} covers ${pending.bytes} bytes, the file has ${fileBytes}`);
  }
  const verifiedBytes = good?.bytes ?? 0;
  const verifiedUntil = good?.time ?? 0;
  const tail = fileBytes - verifiedBytes;
  const ns = end?.kind === 'interrupted' ? RECORDING_INTERRUPTED_NAMESPACE : input.namespace;
  const signature = sigText === null ? null : end && goodDigest ? verifySshsig(sigText, input.publicBlob, ns, { sha256: goodDigest }) : false;
  const result = { ...base, verifiedBytes, verifiedUntil, unverifiedBytes: tail, signature, lastCheckpoint: good, endRecord: end, ...(goodDigest ? { prefixSha256: goodDigest } : {}) };
  if (signature === false) {
    return { ...result, verdict: 'altered', summary: `altered: the detached signature (${path.basename(input.castFile)}.sig) does not match ${end ? 'the signed recording' : 'a recording without a signed end'}` };
  }
  if (input.sealed && (!end || end.bytes !== input.sealed.bytes || end.chain !== input.sealed.chain)) {
    return { ...result, verdict: 'altered', event: { index, time: null, offset: verifiedBytes }, summary: `altered: the session index says the recording was sealed at ${input.sealed.bytes} bytes, but its signed end ${end ? `covers ${end.bytes}` : 'was removed'}; verified up to ${fmtTime(verifiedUntil)}` };
  }
  if (end?.kind === 'complete') {
    if (tail > 0) {
      return { ...result, verdict: 'altered', event: { index, time: null, offset: verifiedBytes }, summary: `altered: ${tail} bytes were added after the signed end (at byte ${verifiedBytes})` };
    }
    return { ...result, verdict: 'verified', summary: `verified: session ${side.session}, ${index - 1} events, ${fmtTime(verifiedUntil)}, ${fileBytes} bytes signed by the recording key${signature ? ' (detached signature matches)' : ''}` };
  }
  const cut = end?.kind === 'interrupted' ? 'the session was interrupted' : 'the recording has no end record (still running, or cut off by a crash)';
  return { ...result, verdict: 'incomplete', summary: `incomplete: session ${side.session} verified up to ${fmtTime(verifiedUntil)} (${verifiedBytes} bytes); ${cut}${tail > 0 ? `; the ${tail} bytes after that are unverified` : ''}` };
}

/** No sidecar, and none expected (a bare copy): only a complete-recording .sig can speak, and it names no session. */
async function verifyWholeFile(input: VerifyInput, sigText: string | null, base: Omit<VerifyResult, 'verdict' | 'summary'>): Promise<VerifyResult> {
  if (sigText === null) return { ...base, verdict: 'unsigned', summary: 'unsigned: there is no integrity file or signature beside the recording' };
  const sha512 = crypto.createHash('sha512');
  const sha256 = crypto.createHash('sha256');
  for await (const chunk of fs.createReadStream(input.castFile) as AsyncIterable<Buffer>) {
    sha512.update(chunk);
    sha256.update(chunk);
  }
  // Only the complete-recording namespace: an interrupted prefix's signature never verifies a whole file.
  const ok = verifySshsig(sigText, input.publicBlob, input.namespace, { sha512: sha512.digest(), sha256: sha256.digest() });
  return ok
    ? { ...base, verdict: 'verified', signature: true, verifiedBytes: base.fileBytes, unverifiedBytes: 0, summary: `verified: ${base.fileBytes} bytes, the detached signature matches a complete recording (no integrity file: the session it belongs to is not checked)` }
    : { ...base, verdict: 'altered', signature: false, summary: 'altered: the detached signature does not match the file (no integrity file to name the event)' };
}

/** Exit codes of `tctl recordings verify` and `tsh play --verify`: one per verdict, so scripts can tell them apart. */
export const VERDICT_EXIT_CODES: Readonly<Record<Verdict, number>> = Object.freeze({ verified: 0, altered: 4, incomplete: 5, unsigned: 6 });

export interface VerifyJson {
  verdict: Verdict;
  summary: string;
  verified_until: number;
  verified_bytes: number;
  unverified_bytes: number;
  file_bytes: number;
  altered_event: AlteredEvent | null;
  signature: boolean | null;
  /** With --audit: the recording against the checkpoint anchors in the audit log (anchors.ts). */
  audit?: AnchorCheck;
}

/** Adds the audit log's verdict: a recording that disagrees with its anchors is altered, whatever its signatures say. */
export function withAnchorCheck(r: VerifyJson, a: AnchorCheck): VerifyJson {
  const altered = a.verdict === 'disagrees';
  return { ...r, verdict: altered ? 'altered' : r.verdict, summary: `${r.summary}; audit: ${a.summary}`, audit: a };
}

export function verifyResultToJson(r: VerifyResult): VerifyJson {
  return {
    verdict: r.verdict,
    summary: r.summary,
    verified_until: r.verifiedUntil,
    verified_bytes: r.verifiedBytes,
    unverified_bytes: r.unverifiedBytes,
    file_bytes: r.fileBytes,
    altered_event: r.event ?? null,
    signature: r.signature,
  };
}

/** The recording key's blob from an `allowed_signers` line (`IDENTITY [options] ssh-ed25519 BASE64`). */
export function blobFromAllowedSigners(text: string): Buffer {
  const m = /(?:^|\s)ssh-ed25519\s+([A-Za-z0-9+/=]+)/.exec(text);
  if (!m) throw badParameter('no ssh-ed25519 key in the allowed signers text', 'use the line printed by "tctl auth export --type=recording"');
  return Buffer.from(m[1]!, 'base64');
}
