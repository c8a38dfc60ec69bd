import type { KeyObject } from 'node:crypto';
import type { Duplex } from 'node:stream';
import ssh2 from 'ssh2';
import type * as Ssh2 from 'ssh2';
import type { Logger } from '../log.js';
import { certifiedKey, cipherAlgorithms, createCertAgent } from '../ssh/index.js';
import type { SessionKind } from '../store/index.js';
import type { Identity, Target } from './session/plan.js';
import type { ExitInfo } from './session/relay.js';
import type { TargetPolicy } from './targets.js';

/** How the proxy checks a node's host key: extra ssh2 connect options plus the reason for a refusal. */
export interface HostKeyCheck {
  connectOptions: Partial<Ssh2.ConnectConfig>;
  refusal(): string | undefined;
}

export interface UpstreamOptions {
  policy: TargetPolicy;
  log: Logger;
  /** Local address to dial nodes from (proxy_service.upstream_bind_addr). */
  bindAddr: string | undefined;
  /** Builds the host key check for a dialled name (proxy_checks_host_keys). */
  hostKeyCheck(hostname: string): HostKeyCheck;
  readyTimeoutMs?: number;
}

export interface SessionRequest {
  kind: SessionKind;
  command: string | null;
  subsystem: string | null;
  pty: { cols: number; rows: number; width: number; height: number; term: string; modes: Ssh2.TerminalModes } | undefined;
  env: Record<string, string>;
  forwardAgent: boolean;
}

/** A session channel on the node, with its exit status captured from the first packet on. */
export interface UpstreamSession {
  stream: Ssh2.ClientChannel;
  exit(): ExitInfo | undefined;
}

/** A certificate the proxy minted for this session from the OpenSSH CA (registered nodes). */
export interface SessionCertificate {
  privateKey: KeyObject;
  certBlob: Buffer;
}

/** Who dials which node, and whether the borrowed agent stays open for the node (agent forwarding). */
export interface UpstreamRequest {
  target: Target;
  identity: Identity;
  /** The name the node's host certificate must carry: its inventory name, else the dialled host. */
  hostName?: string;
  /**
   * Agentless (a registered node): log in with this certificate; the client's agent is opened
   * only if the user asked for it on the node (keepAgent). Without it (legacy): the borrowed
   * agent signs the login.
   */
  sessionCert?: SessionCertificate;
  openAgent: () => Promise<Duplex>;
  keepAgent: boolean;
}

/** A host and port on either end of a forward. */
export interface Endpoint {
  host: string;
  port: number;
}

/** One authenticated SSH connection to a node that carries an inner connection's tunnels. */
export interface TunnelUpstream {
  /** Opens a `direct-tcpip` channel on the node to `dst` (RFC 4254 §7.2), `src` as its originator. */
  forwardOut(src: Endpoint, dst: Endpoint): Promise<Ssh2.ClientChannel>;
  /** `tcpip-forward` on the node (RFC 4254 §7.1); resolves with the port the node bound. */
  forwardIn(bind: Endpoint): Promise<number>;
  /** `cancel-tcpip-forward` on the node. */
  unforwardIn(bind: Endpoint): Promise<void>;
  /** A connection arrived at a port the node listens on for us (`forwarded-tcpip`). */
  onForwarded(cb: (info: Ssh2.TcpConnectionDetails, accept: () => Ssh2.ClientChannel, reject: () => void) => void): void;
  onLost(cb: (message: string) => void): void;
  close(): void;
}

/** One authenticated SSH connection from the proxy to a node. */
export interface Upstream {
  openSession(req: SessionRequest): Promise<UpstreamSession>;
  onLost(cb: (message: string) => void): void;
  close(): void;
}

/**
 * Dials nodes as the user: ssh2 client, certificate from the client's forwarded agent (pinned to
 * the certificate the client authenticated with), host key checked per policy. The borrowed agent
 * channel is closed as soon as authentication is over unless the user asked to forward it on.
 */
export class UpstreamConnector {
  constructor(private readonly o: UpstreamOptions) {}

  async connect(req: UpstreamRequest): Promise<Upstream> {
    const { client, onLost, close } = await this.dial(req);
    return {
      openSession: (s) => openSession(client, s),
      onLost,
      close,
    };
  }

  /**
   * One connection to the node for an inner connection's tunnels (`-L`, `-D`, `-R`): the same
   * dial, agent borrowing and host key check as a session's, so the node's sshd decides as for
   * a session whether it allows forwarding (AllowTcpForwarding).
   */
  async connectTunnels(req: UpstreamRequest): Promise<TunnelUpstream> {
    const { client, onLost, close } = await this.dial(req);
    return {
      forwardOut: (src, dst) =>
        new Promise<Ssh2.ClientChannel>((resolve, reject) => {
          try {
            client.forwardOut(src.host, src.port, dst.host, dst.port, (err, stream) => (err ? reject(err) : resolve(stream)));
          } catch (err) {
            reject(err as Error);
          }
        }),
      forwardIn: (bind) =>
        new Promise<number>((resolve, reject) => {
          try {
            client.forwardIn(bind.host, bind.port, (err, port) => (err ? reject(err) : resolve(port)));
          } catch (err) {
            reject(err as Error);
          }
        }),
      unforwardIn: (bind) =>
        new Promise<void>((resolve, reject) => {
          try {
            client.unforwardIn(bind.host, bind.port, (err) => (err ? reject(err) : resolve()));
          } catch (err) {
            reject(err as Error);
          }
        }),
      onForwarded: (cb) => {
        client.on('tcp connection', (info, accept, reject) => cb(info, accept, reject));
      },
      onLost,
      close,
    };
  }

  private async dial(req: UpstreamRequest): Promise<{ client: Ssh2.Client; onLost(cb: (message: string) => void): void; close(): void }> {
    const { target } = req;
    const ip = await this.o.policy.resolve(target.host, target.port);
    const agentStreams: Duplex[] = [];
    const openAgent = async () => {
      const s = await req.openAgent();
      agentStreams.push(s);
      return s;
    };
    const closeAgents = () => {
      for (const s of agentStreams.splice(0)) s.destroy();
    };
    const check = this.o.hostKeyCheck(req.hostName ?? target.host);
    const client = new ssh2.Client();
    let lostCb: ((m: string) => void) | undefined;
    let closing = false;
    let settled = false;
    // One permanent 'error' listener from the start: ssh2 can emit a second error after a failed
    // handshake ("Connection lost before handshake"), and an unheard one would crash the daemon.
    await new Promise<void>((resolve, reject) => {
      client.on('error', (err: Error & { level?: string }) => {
        if (!settled) {
          settled = true;
          closeAgents();
          client.end();
          const refusal = check.refusal();
          if (refusal) reject(new Error(refusal));
          else if (err.level === 'client-authentication') {
            reject(
              new Error(
                req.sessionCert
                  ? `the node refused the session certificate for login "${target.login}" (does its sshd trust the OpenSSH CA? tctl auth export --type=openssh; is there such a user?)`
                  : `the node refused the certificate for login "${target.login}"`,
              ),
            );
          }
          else reject(new Error(err.message));
          return;
        }
        if (!closing) lostCb?.(err.message);
      });
      client.once('ready', () => {
        settled = true;
        if (!req.keepAgent) closeAgents();
        resolve();
      });
      const login: Partial<Ssh2.ConnectConfig> = req.sessionCert
        ? {
            authHandler: [{ type: 'publickey', username: target.login, key: certifiedKey(req.sessionCert.privateKey, req.sessionCert.certBlob) as unknown as Ssh2.ParsedKey } as Ssh2.PublicKeyAuthMethod],
            // Only to forward the user's own agent on to the node when they asked for it.
            ...(req.keepAgent ? { agent: createCertAgent(openAgent), agentForward: true } : {}),
          }
        : { agent: createCertAgent(openAgent, { certBlob: req.identity.cert.blob }), agentForward: req.keepAgent };
      client.connect({
        host: ip,
        port: target.port,
        username: target.login,
        ...login,
        localAddress: this.o.bindAddr,
        readyTimeout: this.o.readyTimeoutMs ?? 15_000,
        keepaliveInterval: 30_000,
        ...check.connectOptions,
        algorithms: { ...cipherAlgorithms(), ...check.connectOptions.algorithms },
      });
      // Set before the socket connects (Node applies it on connect): no delayed-ACK waits in the
      // handshake with the node or on interactive keystrokes.
      client.setNoDelay(true);
    });
    client.on('close', () => {
      closeAgents();
      if (!closing) lostCb?.('closed by the node');
    });
    return {
      client,
      onLost: (cb) => {
        lostCb = cb;
      },
      close: () => {
        closing = true;
        closeAgents();
        client.end();
      },
    };
  }
}

function openSession(client: Ssh2.Client, s: SessionRequest): Promise<UpstreamSession> {
  return new Promise<UpstreamSession>((resolve, reject) => {
    const cb = (err: Error | undefined, stream: Ssh2.ClientChannel) => {
      if (err) return reject(err);
      // Listen now, not after the promise settles: ssh2 may deliver exit-status in the same
      // read as the request's success, before any later listener could see it.
      let exit: ExitInfo | undefined;
      stream.on('exit', (code: number | null, signal?: string) => {
        exit = typeof code === 'number' ? { code, signal: null } : { code: null, signal: signal ?? null };
      });
      resolve({ stream, exit: () => exit });
    };
    const opts = { env: s.env, agentForward: s.forwardAgent } as Ssh2.ExecOptions;
    if (s.kind === 'shell') {
      client.shell(s.pty ? { ...s.pty } : false, opts as Ssh2.ShellOptions, cb);
    } else if (s.kind === 'exec') {
      client.exec(s.command ?? '', { ...opts, ...(s.pty ? { pty: { ...s.pty } } : {}) }, cb);
    } else {
      client.subsys(s.subsystem ?? 'sftp', cb);
    }
  });
}
