import fs from 'node:fs';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { profileDirFromEnv, ProfileStore, type Profile } from '../lib/profile/index.js';
import { isTollgateError, notFound } from '../lib/errors.js';
import type { SessionJson, VerifyResult } from '../lib/recording/index.js';
import { isUuid } from '../lib/ids.js';

// Loaded when used: replaying a local .cast file (tsh play's common case and its start-up figure)
// needs none of the HTTP client, the API routes, the config loader or the recording folder's index,
// which together took about 110 ms to load.
const client = () => import('../lib/client/index.js');
const api = () => import('../lib/api/index.js');
const recording = () => import('../lib/recording/index.js');

export interface RecordingFlags {
  config?: string;
  'data-dir'?: string;
  'allowed-signers'?: string;
}

/** A recording tsh can replay, verify and export, wherever it lives. */
export interface RecordingTarget {
  /** What to read the events from: a local file, or the proxy's stream when no local copy is needed. */
  source: string | Readable;
  /** The session's index row, when known (data dir or proxy). */
  session: SessionJson | undefined;
  /** The byte-exact sidecar (`.bin`), null when the recording has none. */
  bin(): Promise<Readable | null>;
  verify(): Promise<VerifyResult>;
  cleanup(): void;
}

/** The `.bin` beside a local `.cast`, if there is one. */
async function binBeside(castFile: string): Promise<Readable | null> {
  const { binPath } = await recording();
  return fs.existsSync(binPath(castFile)) ? fs.createReadStream(binPath(castFile)) : null;
}


/**
 * Finds a recording: a `.cast` file path; a session id in the local data dir (auth host, with
 * -c/--data-dir); else a session id through the proxy with the tsh login. With `local: true`
 * a proxied recording is downloaded first (with its integrity data) so it can be verified.
 */
export async function openRecording(target: string, flags: RecordingFlags, o: { local: boolean }): Promise<RecordingTarget> {
  const none = () => {};
  if (target.endsWith('.cast') || target.includes('/')) {
    if (!fs.existsSync(target)) throw notFound(`no recording file ${target}`);
    const profile = new ProfileStore(profileDirFromEnv(process.env)).load();
    return { source: target, session: undefined, bin: () => binBeside(target), verify: async () => verifyFile(target, (await client()).recordingKey(flags['allowed-signers'], profile)), cleanup: none };
  }
  if (!isUuid(target)) throw notFound(`no recording with id ${target} (see tsh recordings ls)`);
  const profile = flags['data-dir'] || flags.config ? undefined : new ProfileStore(profileDirFromEnv(process.env)).load();
  if (!profile) return openLocal(target, flags, Boolean(flags['data-dir'] || flags.config));
  return openProxied(target, profile, flags, o.local);
}

/**
 * With a session id the recording came from the daemon's storage, where every recording has its
 * sidecar; the index row, when known, says where it was sealed.
 */
async function verifyFile(castFile: string, publicBlob: Buffer, session?: string, row?: SessionJson): Promise<VerifyResult> {
  const { RECORDING_NAMESPACE, sealedOf, verifyRecording } = await recording();
  const sealed = row ? sealedOf({ recordingBytes: row.recording_bytes, recordingChain: row.recording_chain }) : null;
  return verifyRecording({ castFile, publicBlob, namespace: RECORDING_NAMESPACE, ...(session ? { session, expectIntegrity: true, sealed } : {}) });
}

async function openLocal(id: string, flags: RecordingFlags, explicit: boolean): Promise<RecordingTarget> {
  const [{ loadConfig }, { AdminClient, recordingKey }, { ADMIN_SOCKET, adminRoutes }, { blobFromAllowedSigners, RECORDINGS_DIR }] = await Promise.all([
    import('../lib/config/index.js'),
    client(),
    api(),
    recording(),
  ]);
  const config = loadConfig({ configFile: flags.config, dataDir: flags['data-dir'] });
  const file = path.join(config.dataDir, RECORDINGS_DIR, `${id}.cast`);
  if (!fs.existsSync(file)) {
    if (explicit) throw notFound(`no recording with id ${id} (see tsh recordings ls)`);
    throw notFound(`no recording with id ${id}`, 'log in with tsh login to replay through the proxy');
  }
  const admin = new AdminClient(path.join(config.dataDir, ADMIN_SOCKET));
  let session: SessionJson | undefined;
  try {
    session = await admin.call(adminRoutes.getSession, { params: { id } });
  } catch {
    session = undefined; // the daemon may be stopped: the recording still plays
  }
  const key = async () => {
    if (flags['allowed-signers']) return recordingKey(flags['allowed-signers'], undefined);
    return blobFromAllowedSigners((await admin.call(adminRoutes.exportCa, { params: { type: 'recording' } })).line);
  };
  return { source: file, session, bin: () => binBeside(file), verify: async () => verifyFile(file, await key(), id, session), cleanup: () => {} };
}

async function openProxied(id: string, profile: Profile, flags: RecordingFlags, local: boolean): Promise<RecordingTarget> {
  const [{ downloadRecording, profileWebClient, recordingKey }, { webApiRoutes }] = await Promise.all([client(), api()]);
  const web = profileWebClient(profile);
  try {
    if (!local) {
      const source = await web.open(webApiRoutes.streamSession, { params: { id } });
      let binStream: Readable | undefined;
      const bin = async () => {
        const res = await web.open(webApiRoutes.streamSessionBin, { params: { id } });
        // An empty body: the recording has no .bin (a proxy without the route answers 404, an error).
        if (res.headers['content-length'] === '0') {
          res.destroy();
          return null;
        }
        binStream = res;
        return res;
      };
      // Both responses are closed at the end: one left half-read held tsh open until the proxy's
      // idle timeout (about 6 s after every raw replay).
      const cleanup = () => {
        source.destroy();
        binStream?.destroy();
      };
      return { source, session: undefined, bin, verify: () => Promise.reject(new Error('not downloaded')), cleanup };
    }
    const d = await downloadRecording(web, id);
    return { source: d.castFile, session: d.session, bin: () => binBeside(d.castFile), verify: () => verifyFile(d.castFile, recordingKey(flags['allowed-signers'], profile), id, d.session), cleanup: d.cleanup };
  } catch (err) {
    if (isTollgateError(err) && err.kind === 'not-found') throw notFound(`no recording with id ${id} (see tsh recordings ls)`);
    throw err;
  }
}
