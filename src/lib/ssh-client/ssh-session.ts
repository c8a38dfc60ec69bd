import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import ssh2 from 'ssh2';
import type * as Ssh2 from 'ssh2';
import { serveAgent } from '../agent/index.js';
import { parseCertificate, parsePrivateKeyText, parsePublicKeyLine } from '../ca/index.js';
import { parseHostPort } from '../address.js';
import { accessDenied, badParameter, unavailable } from '../errors.js';
import { FORWARD_AGENT_ENV, JOIN_ENV, JOIN_MODE_ENV, TARGET_ENV } from '../proxy-protocol.js';
import { cipherAlgorithms, createCertAgent } from '../ssh/index.js';
import type { Profile } from '../profile/index.js';

export interface SshTarget {
  login: string;
  host: string;
  port: number;
}

export interface SshRequest {
  profile: Profile;
  /** The node (tsh ssh); unused by a join. */
  target: SshTarget | undefined;
  /** Remote command; undefined = interactive shell. */
  command: string | undefined;
  pty: boolean;
  /** -A: forward the user's own ssh-agent to the node (it must hold the tollgate certificate). */
  forwardUserAgent: boolean;
  userAgentSocket: string | undefined;
  stdin: NodeJS.ReadStream;
  stdout: NodeJS.WriteStream;
  stderr: NodeJS.WriteStream;
  /** Checks the proxy's host key against the cluster's host CA. */
  hostKey: { options(hostname: string): Partial<Ssh2.ConnectConfig>; verifier(): { describeError(err: unknown): string } | undefined };
  now?: () => Date;
  /** tsh join: attach to a running session instead of naming a node (target is ignored). */
  join?: { id: string; mode: 'observer' | 'peer' };
}

/** Ctrl-]: detaches from a joined session (as telnet's escape); an observer's `q` too. */
export const DETACH_KEY = 0x1d;

/**
 * What tsh join does with the user's keys: Ctrl-] detaches (and `q` for an observer, whose other
 * keys are dropped here, never sent: the proxy drops them as well); a peer's keys go on.
 */
export function joinKeys(data: Buffer, mode: 'observer' | 'peer'): { detach: boolean; send: Buffer | undefined } {
  const i = data.indexOf(DETACH_KEY);
  if (mode === 'observer') return { detach: i >= 0 || data.includes(0x71 /* q */), send: undefined };
  if (i >= 0) return { detach: true, send: i > 0 ? data.subarray(0, i) : undefined };
  return { detach: false, send: data };
}

function formatTarget(t: SshTarget): string {
  return `${t.login}@${t.host.includes(':') ? `[${t.host}]` : t.host}:${t.port}`;
}

/**
 * An in-process ssh-agent on a private socket holding only the tollgate key and certificate:
 * what tsh forwards, so the proxy never sees the user's other keys (DESIGN.md).
 */
async function startPrivateAgent(keyFile: string, certBlob: Buffer): Promise<{ socket: string; close(): void }> {
  const privateKey = await parsePrivateKeyText(fs.readFileSync(keyFile, 'utf8'));
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsh-agent-'));
  fs.chmodSync(dir, 0o700);
  const socket = path.join(dir, 'agent.sock');
  const server = net.createServer((c) => serveAgent(c, [{ privateKey, certBlob, comment: 'tollgate' }]));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(socket, () => resolve());
  });
  server.unref();
  return {
    socket,
    close: () => {
      server.close();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** `tsh ssh`: one SSH connection to the proxy, one session naming the node; returns the exit code. */
export async function runSsh(req: SshRequest): Promise<number> {
  const now = req.now ?? (() => new Date());
  const p = req.profile;
  let certBlob: Buffer;
  try {
    certBlob = parsePublicKeyLine(fs.readFileSync(p.cert_file, 'utf8')).blob;
  } catch {
    throw badParameter(`no certificate at ${p.cert_file}`, 'log in again with tsh login');
  }
  const cert = parseCertificate(certBlob);
  if (BigInt(Math.floor(now().getTime() / 1000)) >= cert.validBefore) {
    throw accessDenied(`your certificate expired at ${new Date(Number(cert.validBefore) * 1000).toISOString()}`, `log in again with tsh login --proxy=${p.web_proxy_addr}`);
  }
  const target = req.target;
  if (!req.join && !target) throw badParameter('no node given', 'usage: tsh ssh [LOGIN@]HOST');
  if (target && !req.join && !cert.principals.includes(target.login)) {
    throw accessDenied(`you may not log in as "${target.login}" (your logins: ${cert.principals.join(', ')})`, 'use -l LOGIN or LOGIN@HOST with one of them');
  }
  const proxy = parseHostPort(p.ssh_proxy_addr, 3023);
  if (typeof proxy === 'string') throw badParameter(`bad proxy address in the profile: ${proxy}`, 'log in again with tsh login');

  const useUserAgent = req.forwardUserAgent && req.userAgentSocket;
  if (req.forwardUserAgent && !req.userAgentSocket) throw badParameter('-A needs a running ssh-agent (SSH_AUTH_SOCK is not set)', 'start one with: eval "$(ssh-agent)", then tsh login');
  const agent = useUserAgent ? undefined : await startPrivateAgent(p.key_file, certBlob);
  const agentSocket = useUserAgent ? req.userAgentSocket! : agent!.socket;

  const client = new ssh2.Client();
  // One permanent 'error' listener: before `ready` it rejects the connect; after, it ends the
  // session (ssh2 may emit more than one error, and an unheard one would crash tsh mid-session).
  let connected = false;
  let failSession: ((err: Error) => void) | undefined;
  try {
    await new Promise<void>((resolve, reject) => {
      client.on('error', (err: Error & { level?: string; code?: string }) => {
        if (connected) return failSession?.(err);
        connected = true; // settle once
        if (err.level === 'client-authentication') reject(accessDenied('the proxy refused your certificate', 'log in again with tsh login'));
        else if (err.code === 'ECONNREFUSED') reject(unavailable(`cannot reach the proxy's SSH port at ${p.ssh_proxy_addr} (ECONNREFUSED)`, 'is the proxy running?'));
        else if (req.hostKey.verifier()?.describeError(err).startsWith('host key verification failed')) {
          reject(accessDenied(`the proxy at ${p.ssh_proxy_addr} is not trusted: ${req.hostKey.verifier()!.describeError(err)}`, 'check --proxy, or log in again with tsh login if the cluster was re-created'));
        } else reject(unavailable(`cannot connect to the proxy at ${p.ssh_proxy_addr}: ${err.message}`));
      });
      client.once('ready', () => {
        connected = true;
        resolve();
      });
      const hostKeyOptions = req.hostKey.options(proxy.host);
      client.connect({
        host: proxy.host,
        port: proxy.port,
        username: p.user,
        agent: createCertAgent(agentSocket, { certBlob }),
        agentForward: true,
        readyTimeout: 20_000,
        keepaliveInterval: 30_000,
        ...hostKeyOptions,
        algorithms: { ...cipherAlgorithms(), ...hostKeyOptions.algorithms },
      });
      // Without TCP_NODELAY the handshake's back-to-back small packets wait on the proxy's delayed
      // ACK (40 ms each time on Linux): `tsh ssh NODE true` took 0.46 s with Nagle, 0.38 s without.
      client.setNoDelay(true);
    });
    return await new Promise<number>((resolve, reject) => {
      const env: Record<string, string> = req.join
        ? { [JOIN_ENV]: req.join.id, [JOIN_MODE_ENV]: req.join.mode }
        : { [TARGET_ENV]: formatTarget(target!), ...(req.forwardUserAgent ? { [FORWARD_AGENT_ENV]: 'yes' } : {}) };
      const term = process.env.TERM ?? 'xterm-256color';
      const size = { rows: req.stdout.rows || 24, cols: req.stdout.columns || 80, height: 0, width: 0, term };
      const onStream = (err: Error | undefined, stream: Ssh2.ClientChannel) => {
        if (err) return reject(unavailable(`the proxy refused the session: ${err.message}`));
        // 255 unless the node reports an exit status (a lost connection or a signal), as with ssh.
        let code = 255;
        const raw = (req.pty || req.join) && req.stdin.isTTY;
        if (raw) req.stdin.setRawMode(true);
        const onResize = () => stream.setWindow(req.stdout.rows || 24, req.stdout.columns || 80, 0, 0);
        if (req.pty) req.stdout.on('resize', onResize);
        let done = false;
        const end = () => {
          if (done) return;
          done = true;
          if (raw) req.stdin.setRawMode(false);
          req.stdout.off('resize', onResize);
          req.stdin.unpipe(stream);
          req.stdin.off('data', onJoinKeys);
          req.stdin.pause();
          resolve(code);
        };
        const join = req.join;
        const onJoinKeys = (data: Buffer) => {
          if (!join) return;
          const k = joinKeys(data, join.mode);
          if (k.send) stream.write(k.send);
          if (k.detach) {
            req.stderr.write('\r\ntsh: detached from the session\r\n');
            code = 0;
            stream.close();
            end();
          }
        };
        failSession = (e) => {
          req.stderr.write(`\r\ntsh: connection to the proxy lost: ${e.message}\r\n`);
          end();
        };
        if (join) req.stdin.on('data', onJoinKeys);
        else req.stdin.pipe(stream);
        stream.pipe(req.stdout, { end: false });
        stream.stderr.pipe(req.stderr, { end: false });
        stream.on('exit', (c: number | null) => {
          code = typeof c === 'number' ? c : 255;
        });
        stream.on('close', end);
      };
      // A joined session is shown as its owner's terminal draws it: the joiner's size does not apply.
      if (req.join) client.shell(false, { env } as Ssh2.ShellOptions, onStream);
      else if (req.command !== undefined) client.exec(req.command, { env, pty: req.pty ? size : undefined, agentForward: true } as Ssh2.ExecOptions, onStream);
      else client.shell(req.pty ? size : false, { env, agentForward: true } as Ssh2.ShellOptions, onStream);
    });
  } finally {
    client.end();
    agent?.close();
  }
}
