import fs from 'node:fs';
import path from 'node:path';
import { parseHostPort } from '../address.js';
import { publicKeyLine } from '../ca/index.js';
import { accessDenied, badParameter, conflict, isTollgateError, notFound } from '../errors.js';
import { nullLogger, type Logger } from '../log.js';
import { configureSshd } from './configure-sshd.js';
import { managedLines, dropInPath, snippetLines } from './sshd-config.js';
import { reloadSshd } from './sshd-control.js';
import { ensureDataDir, ensureHostKey, hostCertProblem, nodeFiles, parseCaLine, parseCertLine, readHostKey, readState, writeIfChanged, type JoinState, type NodeFiles } from './node-files.js';

import type { NodeJoinGrant, NodeJoinRequest } from '../join-protocol.js';

export type { NodeJoinGrant, NodeJoinRequest } from '../join-protocol.js';

/** Redeems the single-use token with the proxy; called at most once per join, and not at all when nothing changed. */
export type JoinRedeemer = (req: NodeJoinRequest) => Promise<NodeJoinGrant>;

export interface JoinOptions {
  token: string;
  /** Default DEFAULT_DATA_DIR (/etc/tollgate/openssh). */
  dataDir: string;
  /** Default /etc/ssh/sshd_config. */
  sshdConfig: string;
  nodeName: string;
  address: string;
  labels: Record<string, string>;
  /** The proxy as given on the command line; recorded in the state file. */
  proxy: string;
  restartSshd: boolean;
  /** Default /usr/sbin/sshd. */
  sshdPath?: string;
  /** Default: systemctl reload ssh, then sshd, then SIGHUP to /run/sshd.pid. */
  restartCommand?: string[];
  hostnames: string[];
  /** Clock (tests pass a fake one for certificate expiry). */
  now?: () => Date;
}

/** What a join did, as human lines for the command to print. */
export interface JoinReport {
  changed: boolean;
  steps: string[];
}

/** A host certificate expiring sooner than this is renewed (which needs a new token). */
export const RENEW_BEFORE_MS = 7 * 24 * 3600_000;

/**
 * Enrols this OpenSSH node (run as root on the node): host key, OpenSSH CA and host certificate
 * under the data dir, sshd config lines checked with sshd before any reload, then the reload.
 * Idempotent: when the node is already joined with the same settings it returns
 * `{changed: false}` without calling `redeem` (the token is single-use).
 */
export async function joinOpenSshNode(o: JoinOptions, redeem: JoinRedeemer, log: Logger = nullLogger): Promise<JoinReport> {
  validate(o);
  try {
    return await join(o, redeem, log.child({ component: 'openssh-join' }));
  } catch (err) {
    throw permissionError(err) ?? err;
  }
}

function validate(o: JoinOptions): void {
  if (!o.nodeName || /\s/.test(o.nodeName)) throw badParameter(`invalid node name "${o.nodeName}"`, 'pass a node name without spaces');
  const hp = parseHostPort(o.address);
  if (typeof hp === 'string') throw badParameter(`invalid --address "${o.address}": ${hp}`, 'pass the HOST:PORT the proxy dials to reach this sshd');
}

/** EACCES and friends become one line that says to run as root. */
function permissionError(err: unknown): Error | undefined {
  if (isTollgateError(err)) return undefined;
  const e = err as NodeJS.ErrnoException;
  if (e?.code !== 'EACCES' && e?.code !== 'EPERM' && e?.code !== 'EROFS') return undefined;
  const what = e.path ? ` ${e.path}` : '';
  const reason = e.code === 'EROFS' ? 'read-only file system' : 'permission denied';
  return accessDenied(`cannot ${e.syscall ?? 'access'}${what}: ${reason}`, 'run teleport join openssh as root (sudo), or check the permissions of the data dir and the sshd config');
}

function sameLabels(a: Record<string, string>, b: Record<string, string>): boolean {
  const ka = Object.keys(a).sort();
  const kb = Object.keys(b).sort();
  return ka.length === kb.length && ka.every((k, i) => k === kb[i] && a[k] === b[k]);
}

function sameRequest(s: JoinState, o: JoinOptions): boolean {
  const hostnames = s.hostnames ?? [];
  return s.nodeName === o.nodeName && s.address === o.address && s.proxy === o.proxy && sameLabels(s.labels, o.labels) && hostnames.join(',') === o.hostnames.join(',');
}

/** True when the data dir holds a usable grant matching `state` for the host key `hostBlob`. */
function grantIntact(files: NodeFiles, state: JoinState, hostBlob: Buffer, now: Date): boolean {
  try {
    const ca = parseCaLine(fs.readFileSync(files.caFile, 'utf8'));
    const cert = parseCertLine(fs.readFileSync(files.hostCert, 'utf8'));
    if (ca.fingerprint !== state.caFingerprint || cert?.serial.toString() !== state.hostCertSerial) return false;
    return hostCertProblem(cert, hostBlob, now, new Date(now.getTime() + RENEW_BEFORE_MS)) === undefined;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EACCES') throw err;
    return false;
  }
}

/** True when the main config (or its drop-in) already holds tollgate's three lines. */
function configInPlace(mainText: string, dropIn: string | undefined, files: NodeFiles): boolean {
  let have: string[] | undefined;
  if (dropIn) {
    const text = fs.existsSync(dropIn) ? fs.readFileSync(dropIn, 'utf8') : undefined;
    have = text === undefined ? undefined : managedLines(text, true);
  } else {
    have = managedLines(mainText, false);
  }
  return !!have && snippetLines(files, []).every((l) => have!.includes(l));
}

async function join(o: JoinOptions, redeem: JoinRedeemer, log: Logger): Promise<JoinReport> {
  const now = (o.now ?? (() => new Date()))();
  const files = nodeFiles(o.dataDir);
  let configPath: string;
  try {
    // Edit the file itself, not a symlink to it (an atomic rename would replace the link).
    configPath = fs.realpathSync(o.sshdConfig);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    throw notFound(`sshd config ${o.sshdConfig} does not exist`, 'pass the sshd config file with --openssh-config');
  }
  const mainText = fs.readFileSync(configPath, 'utf8');
  const dropIn = dropInPath(mainText);
  const state = readState(files.stateFile);
  const hostBlob = await readHostKey(files);
  const grantOk = !!state && sameRequest(state, o) && !!hostBlob && grantIntact(files, state, hostBlob, now);
  if (grantOk && configInPlace(mainText, dropIn, files)) {
    log.info('already joined; nothing to do', { node: o.nodeName });
    return { changed: false, steps: [`nothing changed: already joined as ${o.nodeName}`] };
  }

  const steps: string[] = [];
  if (ensureDataDir(files.dataDir)) steps.push(`made ${files.dataDir} (0700)`);
  const hk = await ensureHostKey(files, `tollgate-host@${o.nodeName}`);
  steps.push(hk.created ? `wrote ${files.hostKey} (new ed25519 host key)` : `kept the existing host key ${files.hostKey}`);
  if (hk.pubWritten) steps.push(`wrote ${files.hostPublicKey}`);

  if (!grantOk) {
    if (!o.token) throw badParameter('this node is not joined yet (or its settings changed) and no join token was given', 'get one with tctl tokens add --type=node and pass it with --token');
    const grant = await redeem({ token: o.token, nodeName: o.nodeName, address: o.address, labels: { ...o.labels }, hostPublicKey: publicKeyLine(hk.blob), hostnames: [...o.hostnames] });
    const ca = parseCaLine(grant.openSshCa);
    const cert = parseCertLine(grant.hostCertificate);
    const problem = hostCertProblem(cert, hk.blob, now, now);
    if (problem || !cert) throw conflict(`the proxy's host certificate cannot be used: ${problem}`, 'check that --proxy-server names the tollgate proxy that issued the token');
    if (!grant.clusterName) throw badParameter('the proxy did not name its cluster', 'upgrade the proxy');
    if (hostCertProblem(cert, hk.blob, now, new Date(now.getTime() + RENEW_BEFORE_MS))) {
      log.warn('the host certificate expires within 7 days; the next join will need a new token', { validBefore: new Date(Number(cert.validBefore) * 1000).toISOString() });
    }
    if (writeIfChanged(files.caFile, `${ca.line}\n`)) steps.push(`wrote ${files.caFile}`);
    if (writeIfChanged(files.hostCert, `${grant.hostCertificate.trim()}\n`)) steps.push(`wrote ${files.hostCert}`);
    // Written before sshd is checked: when the check fails, fixing the config and running again
    // needs no new token (the grant on disk is reused).
    const next: JoinState = {
      version: 1,
      nodeName: o.nodeName,
      address: o.address,
      labels: { ...o.labels },
      proxy: o.proxy,
      hostnames: [...o.hostnames],
      clusterName: grant.clusterName,
      caFingerprint: ca.fingerprint,
      hostCertSerial: cert.serial.toString(),
      hostCertValidBefore: new Date(Number(cert.validBefore) * 1000).toISOString(),
      joinedAt: now.toISOString(),
    };
    writeIfChanged(files.stateFile, `${JSON.stringify(next, null, 2)}\n`);
    steps.push(`wrote ${files.stateFile} (joined cluster ${grant.clusterName} as ${o.nodeName})`);
  }

  steps.push(...(await configureSshd({ sshd: o.sshdPath, configPath, dropIn, files, log })));
  if (o.restartSshd) steps.push(await reloadSshd(o.restartCommand, log));
  else steps.push('sshd not reloaded (--restart-sshd=no): reload it to apply the change');
  log.info('joined', { node: o.nodeName, config: path.basename(configPath) });
  return { changed: true, steps };
}
