import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { badParameter } from '../errors.js';
import type { SessionJson } from '../recording/index.js';
import { binPath, chainPath, sigPath, blobFromAllowedSigners } from '../recording/index.js';
import type { Profile } from '../profile/index.js';
import { webApiRoutes } from '../api/index.js';
import type { WebClient } from './web-client.js';

export interface DownloadedRecording {
  castFile: string;
  session: SessionJson;
  /** Removes the temporary copy. */
  cleanup(): void;
}

/**
 * Fetches a recording and its integrity data through the proxy into a private temp dir, so it
 * can be verified and replayed or exported from one consistent copy.
 */
export async function downloadRecording(web: WebClient, id: string): Promise<DownloadedRecording> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsh-recording-'));
  const cleanup = () => fs.rmSync(dir, { recursive: true, force: true });
  try {
    const session = await web.call(webApiRoutes.getSession, { params: { id } });
    const castFile = path.join(dir, `${id}.cast`);
    await pipeline(await web.open(webApiRoutes.streamSession, { params: { id } }), fs.createWriteStream(castFile, { mode: 0o600 }));
    const integrity = await web.call(webApiRoutes.sessionIntegrity, { params: { id } });
    if (integrity.chain !== null) fs.writeFileSync(chainPath(castFile), integrity.chain, { mode: 0o600 });
    if (integrity.sig !== null) fs.writeFileSync(sigPath(castFile), integrity.sig, { mode: 0o600 });
    await pipeline(await web.open(webApiRoutes.streamSessionBin, { params: { id } }), fs.createWriteStream(binPath(castFile), { mode: 0o600 }));
    if (fs.statSync(binPath(castFile)).size === 0) fs.rmSync(binPath(castFile));
    return { castFile, session, cleanup };
  } catch (err) {
    cleanup();
    throw err;
  }
}

/** The recording key to verify with: `--allowed-signers FILE`, else the one pinned at tsh login. */
export function recordingKey(allowedSignersFile: string | undefined, profile: Profile | undefined): Buffer {
  if (allowedSignersFile) {
    let text: string;
    try {
      text = fs.readFileSync(allowedSignersFile, 'utf8');
    } catch (err) {
      throw badParameter(`cannot read ${allowedSignersFile}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
    return blobFromAllowedSigners(text);
  }
  if (profile?.recording_signers) return blobFromAllowedSigners(profile.recording_signers);
  throw badParameter('no recording key to verify with', 'log in again with tsh login (it pins the key), or pass --allowed-signers FILE with the line from "tctl auth export --type=recording"');
}
