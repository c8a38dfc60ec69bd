import fs from 'node:fs';
import { writeFileAtomic } from '../fs/index.js';
import { chainPath, checkpointLine, RECORDING_INTERRUPTED_NAMESPACE, signCheckpoint, sigPath, type RecordingSigner } from './integrity.js';
import { verifyRecording, type VerifyResult } from './verify.js';

/**
 * Closes a recording a crash left open: signs an `interrupted` end record and a detached
 * signature over exactly the prefix its last valid checkpoint covers. Bytes after that prefix
 * (written after the last checkpoint, or appended since) stay unverified: nothing is signed that
 * no checkpoint covered. A recording that does not match its own checkpoints is left unsigned.
 */
export async function closeInterruptedRecording(castFile: string, session: string, signer: RecordingSigner): Promise<VerifyResult> {
  const result = await verifyRecording({ castFile, session, publicBlob: signer.publicBlob, namespace: signer.namespace });
  const last = result.lastCheckpoint;
  const digest = result.prefixSha256;
  if (result.verdict !== 'incomplete' || !last || !digest || result.endRecord) return result;
  const chainFile = chainPath(castFile);
  // A crash can leave the sidecar's last line half written: cut it before appending.
  const text = fs.readFileSync(chainFile, 'utf8');
  const keep = Buffer.byteLength(text.slice(0, text.lastIndexOf('\n') + 1));
  fs.truncateSync(chainFile, keep);
  const end = signCheckpoint(signer, session, { kind: 'interrupted', n: 0, events: last.events, bytes: last.bytes, time: last.time, chain: last.chain });
  fs.appendFileSync(chainFile, checkpointLine(end));
  // The digest of the bytes as they were checked, never a second read (the file could change between).
  // Atomic: a crash while writing it must not leave half a signature that reads as tampering.
  writeFileAtomic(sigPath(castFile), signer.signSshsig(digest, RECORDING_INTERRUPTED_NAMESPACE), { mode: 0o644, overwrite: true });
  return verifyRecording({ castFile, session, publicBlob: signer.publicBlob, namespace: signer.namespace });
}
