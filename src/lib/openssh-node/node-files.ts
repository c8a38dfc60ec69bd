import fs from 'node:fs';
import path from 'node:path';
import {
  ED25519,
  ED25519_CERT,
  ed25519Blob,
  fingerprint,
  generateEd25519,
  parseCertificate,
  type ParsedCertificate,
  parsePrivateKeyText,
  parsePublicKeyLine,
  privateKeyToOpenSSH,
  publicKeyLine,
  rawEd25519Public,
  verifyCertificateSignature,
} from '../ca/index.js';
import { badParameter } from '../errors.js';
import { writeFileAtomic } from '../fs/index.js';

/*
 * The files `teleport join openssh` keeps on the node, all under the data dir (0700), each 0600
 * and written atomically: sshd reads the first four, the state file is tollgate's own memory.
 */

/** The default data dir (Teleport's /etc/teleport analogue for agentless nodes). */
export const DEFAULT_DATA_DIR = '/etc/tollgate/openssh';
/** The default main sshd config. */
export const DEFAULT_SSHD_CONFIG = '/etc/ssh/sshd_config';
export const FILE_MODE = 0o600;
export const DIR_MODE = 0o700;

/** Paths of the node's files under `dataDir`. */
export interface NodeFiles {
  dataDir: string;
  /** The OpenSSH CA line, for TrustedUserCAKeys. */
  caFile: string;
  /** ed25519 host key in OpenSSH's private key format, for HostKey. */
  hostKey: string;
  hostPublicKey: string;
  /** `<hostKey>-cert.pub`, for HostCertificate (and where ssh-keygen/sshd expect it). */
  hostCert: string;
  stateFile: string;
}

/** The file layout under `dataDir`. */
export function nodeFiles(dataDir: string): NodeFiles {
  const d = path.resolve(dataDir);
  const hostKey = path.join(d, 'ssh_host_ed25519_key');
  return { dataDir: d, caFile: path.join(d, 'openssh_ca.pub'), hostKey, hostPublicKey: `${hostKey}.pub`, hostCert: `${hostKey}-cert.pub`, stateFile: path.join(d, 'state.json') };
}

/** What the last successful redeem recorded: compared with the next run's request for idempotency. */
export interface JoinState {
  version: 1;
  nodeName: string;
  address: string;
  labels: Record<string, string>;
  proxy: string;
  /** Extra host certificate principals asked for (a renamed host needs a new certificate). */
  hostnames?: string[];
  clusterName: string;
  caFingerprint: string;
  hostCertSerial: string;
  /** ISO time; a run within RENEW_BEFORE_MS of it redeems again. */
  hostCertValidBefore: string;
  joinedAt: string;
}

/** Reads the state file; undefined when it is missing or not ours (the join then starts afresh). */
export function readState(file: string): JoinState | undefined {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  try {
    const s = JSON.parse(text) as JoinState;
    return s && s.version === 1 && typeof s.nodeName === 'string' ? s : undefined;
  } catch {
    return undefined;
  }
}

/** Writes `data` unless the file already holds exactly it (so a no-op keeps mtimes); true when written. */
export function writeIfChanged(file: string, data: string): boolean {
  let old: string | undefined;
  try {
    old = fs.readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  const mode = fs.statSync(file, { throwIfNoEntry: false })?.mode;
  if (old === data && mode !== undefined && (mode & 0o777) === FILE_MODE) return false;
  writeFileAtomic(file, data, { mode: FILE_MODE, overwrite: true });
  return true;
}

/** Creates the data dir (0700) or narrows an existing one to 0700; true when it changed anything. */
export function ensureDataDir(dir: string): boolean {
  const st = fs.statSync(dir, { throwIfNoEntry: false });
  if (!st) {
    fs.mkdirSync(dir, { recursive: true, mode: DIR_MODE });
    fs.chmodSync(dir, DIR_MODE);
    return true;
  }
  if (!st.isDirectory()) throw badParameter(`${dir} is not a directory`, 'pass another --data-dir, or move that file away');
  if ((st.mode & 0o777) === DIR_MODE) return false;
  fs.chmodSync(dir, DIR_MODE);
  return true;
}

/** The host key's public blob when the key file holds a loadable ed25519 key, else undefined. */
export async function readHostKey(files: NodeFiles): Promise<Buffer | undefined> {
  let text: string;
  try {
    text = fs.readFileSync(files.hostKey, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  try {
    return ed25519Blob(rawEd25519Public(await parsePrivateKeyText(text)));
  } catch {
    return undefined;
  }
}

/**
 * The node's host key: the existing one when it loads (a new key would make every client's
 * known_hosts entry for this node wrong), else a new ed25519 key. Keeps the .pub in step.
 */
export async function ensureHostKey(files: NodeFiles, comment: string): Promise<{ blob: Buffer; created: boolean; pubWritten: boolean }> {
  let blob = await readHostKey(files);
  let created = false;
  if (!blob) {
    const kp = generateEd25519();
    writeFileAtomic(files.hostKey, await privateKeyToOpenSSH(kp.privateKey, comment), { mode: FILE_MODE, overwrite: true });
    blob = kp.publicBlob;
    created = true;
  }
  // Keep whatever comment an existing .pub has: only the key matters to sshd and to ssh-keyscan.
  let pubOk = false;
  try {
    pubOk = parsePublicKeyLine(fs.readFileSync(files.hostPublicKey, 'utf8')).blob.equals(blob);
  } catch {
    pubOk = false;
  }
  const pubWritten = !pubOk && writeIfChanged(files.hostPublicKey, `${publicKeyLine(blob, comment)}\n`);
  return { blob, created, pubWritten };
}

/** Parses the OpenSSH CA line the proxy sent; the normalized line and its fingerprint. */
export function parseCaLine(line: string): { line: string; fingerprint: string } {
  const first = line.trim().split('\n')[0] ?? '';
  let parsed;
  try {
    parsed = parsePublicKeyLine(first);
  } catch (err) {
    throw badParameter('the proxy sent a malformed OpenSSH CA key', 'check that --proxy-server names a tollgate proxy', err);
  }
  if (parsed.algo !== ED25519) throw badParameter(`the proxy sent a ${parsed.algo} OpenSSH CA key, expected ssh-ed25519`, 'upgrade the proxy');
  return { line: publicKeyLine(parsed.blob, parsed.comment || undefined), fingerprint: fingerprint(parsed.blob) };
}

/** Parses a `ssh-ed25519-cert-v01@openssh.com AAAA...` line; undefined when it is not one. */
export function parseCertLine(line: string): ParsedCertificate | undefined {
  const [algo, b64] = line.trim().split(/\s+/);
  if (algo !== ED25519_CERT || !b64) return undefined;
  try {
    return parseCertificate(Buffer.from(b64, 'base64'));
  } catch {
    return undefined;
  }
}

/**
 * Why `cert` is not a usable host certificate for the host key `hostBlob` until at least
 * `until`, or undefined when it is: a host certificate, for this key, correctly signed, valid.
 */
export function hostCertProblem(cert: ParsedCertificate | undefined, hostBlob: Buffer, now: Date, until: Date): string | undefined {
  if (!cert) return 'it is not an ed25519 OpenSSH certificate';
  if (cert.type !== 'host') return `it is a ${cert.type} certificate, not a host certificate`;
  if (!ed25519Blob(cert.subjectKey).equals(hostBlob)) return 'it certifies another key than this node\'s host key';
  if (!verifyCertificateSignature(cert)) return 'its signature does not verify';
  const secs = (d: Date) => BigInt(Math.floor(d.getTime() / 1000));
  if (cert.validAfter > secs(now) + 300n) return 'it is not valid yet (is this node\'s clock right?)';
  if (cert.validBefore <= secs(until)) return cert.validBefore <= secs(now) ? 'it has expired' : 'it expires soon';
  return undefined;
}
