import crypto from 'node:crypto';
import fs from 'node:fs';
import { publicKeyFromBlob } from '../ca/keys.js';
import { badParameter } from '../errors.js';
import { verifySshsig } from '../ca/sshsig.js';
import { CHAIN_VERSION, type Checkpoint, type CheckpointKind, chainSeed, checkpointMessage, linkChain, shortHash } from './integrity.js';

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
}

export interface VerifyInput {
  castFile: string;
  /** The sidecar text and signature text, when they come from elsewhere than beside the file (an API). */
  chainText?: string | null;
  sigText?: string | null;
  session?: string;
  publicBlob: Buffer;
  namespace: string;
}

interface Sidecar {
  session: string;
  hashes: string[];
  checkpoints: Checkpoint[];
  end: Checkpoint | undefined;
  problem: string | undefined;
}

function parseSidecar(text: string, publicBlob: Buffer, expectedSession: string | undefined): Sidecar {
  const key = publicKeyFromBlob(publicBlob);
  const out: Sidecar = { session: '', hashes: [], checkpoints: [], end: undefined, problem: undefined };
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
    if (!kind || typeof rec.events !== 'number' || typeof rec.bytes !== 'number' || typeof rec.time !== 'number' || typeof rec.chain !== 'string' || typeof rec.sig !== 'string') {
      out.problem = `the integrity file is malformed at line ${i + 1}`;
      return out;
    }
    const c: Checkpoint = { kind, n: kind === 'cp' ? (rec.cp as number) : 0, events: rec.events, bytes: rec.bytes, time: rec.time, chain: rec.chain, sig: rec.sig };
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
  return out;
}

function eventTime(line: Buffer): number | null {
  try {
    const v = JSON.parse(line.toString('utf8')) as unknown;
    return Array.isArray(v) && typeof v[0] === 'number' ? v[0] : null;
  } catch {
    return null;
  }
}

function fmtTime(s: number): string {
  return `${s.toFixed(1)}s`;
}

async function* lines(file: string): AsyncGenerator<Buffer> {
  let rest: Buffer = Buffer.alloc(0);
  for await (const chunk of fs.createReadStream(file, { highWaterMark: 1 << 20 }) as AsyncIterable<Buffer>) {
    let buf = rest.length ? Buffer.concat([rest, chunk]) : chunk;
    let start = 0;
    for (let nl = buf.indexOf(10, start); nl !== -1; nl = buf.indexOf(10, start)) {
      yield buf.subarray(start, nl + 1);
      start = nl + 1;
    }
    rest = Buffer.from(buf.subarray(start));
    buf = rest;
  }
  if (rest.length) yield rest;
}

export async function verifyRecording(input: VerifyInput): Promise<VerifyResult> {
  const fileBytes = fs.statSync(input.castFile).size;
  const readOpt = (text: string | null | undefined, file: string): string | null => {
    if (text !== undefined) return text;
    try {
      return fs.readFileSync(file, 'utf8');
    } catch {
      return null;
    }
  };
  const chainText = readOpt(input.chainText, `${input.castFile}.chain`);
  const sigText = readOpt(input.sigText, `${input.castFile}.sig`);
  const base = { verifiedUntil: 0, verifiedBytes: 0, unverifiedBytes: fileBytes, fileBytes, signature: null as boolean | null };

  if (chainText === null) return verifyWholeFile(input, sigText, base);
  const side = parseSidecar(chainText, input.publicBlob, input.session);
  if (side.problem) return { ...base, verdict: 'altered', summary: `altered: ${side.problem}` };

  let chain = chainSeed(side.session);
  let index = 0;
  let offset = 0;
  let cpi = 0;
  let good: Checkpoint | undefined;
  let firstMismatch: AlteredEvent | undefined;
  const sha512 = crypto.createHash('sha512');
  const sha256 = crypto.createHash('sha256');
  let prefixDigests: { sha512: Buffer; sha256: Buffer } | undefined;
  const end = side.end;
  const altered = (c: Checkpoint, why: string): VerifyResult => {
    const at = firstMismatch ?? { index: (good?.events ?? 0), time: good?.time ?? 0, offset: good?.bytes ?? 0 };
    const where = firstMismatch ? `event ${at.index} at ${at.time === null ? 'an unreadable time' : fmtTime(at.time)} (byte ${at.offset})` : `between byte ${good?.bytes ?? 0} and byte ${c.bytes} (events ${(good?.events ?? 0) + 1}–${c.events})`;
    return { ...base, verdict: 'altered', event: at, verifiedUntil: good?.time ?? 0, verifiedBytes: good?.bytes ?? 0, unverifiedBytes: fileBytes - (good?.bytes ?? 0), summary: `altered: ${why}; the first altered event is ${where}; verified up to ${fmtTime(good?.time ?? 0)}` };
  };

  for await (const line of lines(input.castFile)) {
    const cp = side.checkpoints[cpi];
    if (!cp) break;
    const complete = line[line.length - 1] === 10;
    const h = crypto.createHash('sha256').update(line).digest();
    if (!firstMismatch && (!complete || (side.hashes[index] !== undefined && side.hashes[index] !== shortHash(h)))) {
      firstMismatch = { index, time: index === 0 ? 0 : eventTime(line), offset };
    }
    if (!complete) break;
    chain = linkChain(chain, h);
    sha512.update(line);
    sha256.update(line);
    index++;
    offset += line.length;
    while (side.checkpoints[cpi] && index === side.checkpoints[cpi]!.events) {
      const c = side.checkpoints[cpi]!;
      if (offset !== c.bytes || chain.toString('hex') !== c.chain) return altered(c, `checkpoint ${c.kind === 'cp' ? c.n : c.kind} does not match`);
      good = c;
      if (c === end) prefixDigests = { sha512: sha512.copy().digest(), sha256: sha256.copy().digest() };
      cpi++;
    }
    if (side.checkpoints[cpi] && index > side.checkpoints[cpi]!.events) return altered(side.checkpoints[cpi]!, 'the file has more events than a checkpoint covers');
  }
  const pending = side.checkpoints[cpi];
  if (pending) {
    // The file ends before a signed checkpoint: it was cut after it was signed.
    firstMismatch ??= { index, time: null, offset };
    return altered(pending, `the file was cut: checkpoint ${pending.kind === 'cp' ? pending.n : pending.kind} covers ${pending.bytes} bytes, the file has ${fileBytes}`);
  }
  const verifiedBytes = good?.bytes ?? 0;
  const verifiedUntil = good?.time ?? 0;
  const tail = fileBytes - verifiedBytes;
  const signature = sigText === null || !prefixDigests ? null : verifySshsig(sigText, input.publicBlob, input.namespace, prefixDigests);
  const result = { ...base, verifiedBytes, verifiedUntil, unverifiedBytes: tail, signature, lastCheckpoint: good, endRecord: end };
  if (end && signature === false) return { ...result, verdict: 'altered', summary: `altered: the detached signature (${input.castFile}.sig) does not match the signed recording` };
  if (end?.kind === 'complete') {
    if (tail > 0) {
      return { ...result, verdict: 'altered', event: { index, time: null, offset: verifiedBytes }, summary: `altered: ${tail} bytes were added after the signed end (at byte ${verifiedBytes})` };
    }
    return { ...result, verdict: 'verified', summary: `verified: ${index - 1} events, ${fmtTime(verifiedUntil)}, ${fileBytes} bytes signed by the recording key${signature ? ' (detached signature matches)' : ''}` };
  }
  const cut = end?.kind === 'interrupted' ? 'the session was interrupted' : 'the recording has no end record (still running, or cut off by a crash)';
  return { ...result, verdict: 'incomplete', summary: `incomplete: verified up to ${fmtTime(verifiedUntil)} (${verifiedBytes} bytes); ${cut}${tail > 0 ? `; the ${tail} bytes after that are unverified` : ''}` };
}

/** No sidecar (a recording from before checkpoints, or one whose sidecar was removed): only the .sig can speak. */
async function verifyWholeFile(input: VerifyInput, sigText: string | null, base: Omit<VerifyResult, 'verdict' | 'summary'>): Promise<VerifyResult> {
  if (sigText === null) return { ...base, verdict: 'unsigned', summary: 'unsigned: there is no integrity file or signature beside the recording' };
  const sha512 = crypto.createHash('sha512');
  const sha256 = crypto.createHash('sha256');
  for await (const chunk of fs.createReadStream(input.castFile) as AsyncIterable<Buffer>) {
    sha512.update(chunk);
    sha256.update(chunk);
  }
  const ok = verifySshsig(sigText, input.publicBlob, input.namespace, { sha512: sha512.digest(), sha256: sha256.digest() });
  return ok
    ? { ...base, verdict: 'verified', signature: true, verifiedBytes: base.fileBytes, unverifiedBytes: 0, summary: `verified: ${base.fileBytes} bytes, detached signature matches (no checkpoints beside it)` }
    : { ...base, verdict: 'altered', signature: false, summary: 'altered: the detached signature does not match the file (no checkpoints to name the event)' };
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
