import crypto from 'node:crypto';
import type * as Ssh2 from 'ssh2';
import { AuditEvents, type Auditor, type AuditFields } from '../audit/index.js';
import type { Logger } from '../log.js';
import { authorizationFacts, authorizeTunnel, nodeName, upstreamCredentials, type Authorization, type ConnectionContext, type Identity, type ProxyServices, type Target } from './session/index.js';
import { carryTunnel, type Carried } from './tunnel-carrier.js';
import type { TunnelUpstream, UpstreamConnector } from './upstream.js';

export interface PortForwardingDeps extends ProxyServices {
  /** proxy_service.allow_port_forwarding */
  allowed: boolean;
  upstream: Pick<UpstreamConnector, 'connectTunnels'>;
}

/** How often open tunnels re-check that they are still allowed (locks end sessions within 2 s). */
export const TUNNEL_RECHECK_MS = 1000;
const LOOKUP_FAILED = 'inventory lookup failed';

/**
 * `-L` and `-D` arrive as the same `direct-tcpip` channel (RFC 4254 §7.2; a SOCKS request is
 * answered by the client itself), so the proxy cannot tell them apart: both are `local`.
 * `-R` (`tcpip-forward`, §7.1) is `remote`.
 */
type Direction = 'local' | 'remote';

/**
 * Refuses and audits every forwarding request on a connection that has no node to carry it to
 * (the outer connection; `-R` there), or on any connection when forwarding is off.
 */
export function refuseForwardRequests(conn: Ssh2.Connection, identity: Identity, auditor: Auditor): void {
  conn.on('request', (_accept, reject, name, info) => {
    auditor.emit(AuditEvents.port, identity.user, { request: name, allowed: false, addr: identity.clientAddr, ...(info as object) });
    reject?.();
  });
}

/**
 * An inner connection's (the node hop of `ssh -J`) tunnels. With allow_port_forwarding off, every
 * forward is refused and audited as a `port` event. With it on, `direct-tcpip` channels (`-L`,
 * `-D`) become `direct-tcpip` channels on the node and `tcpip-forward` (`-R`) a listener on the
 * node whose connections are opened back to the client; all of them over one upstream connection
 * per inner connection, dialled as the login with the borrowed agent, so the node's sshd decides
 * whether it allows forwarding (AllowTcpForwarding). Each forwarded connection is audited once,
 * when it ends, with its byte counts and start time; its bytes are not recorded (DESIGN.md:
 * "Tunnels are not recordings").
 */
export function servePortForwarding(conn: Ssh2.Connection, cctx: ConnectionContext, deps: PortForwardingDeps): void {
  const who = cctx.identity;
  const target = cctx.target;
  if (!deps.allowed || !target) {
    refuseForwardRequests(conn, who, deps.auditor);
    conn.on('tcpip', (_accept, reject, info) => {
      deps.auditor.emit(AuditEvents.port, who.user, { allowed: false, dest: `${info.destIP}:${info.destPort}`, addr: who.clientAddr });
      reject?.();
    });
    return;
  }
  new InnerTunnels(conn, cctx, target, deps).serve();
}

class InnerTunnels {
  private readonly log: Logger;
  private readonly node: string;
  private upstream: Promise<TunnelUpstream> | undefined;
  private closed = false;
  /** Listeners on the node for `-R`, by `host:port` as the client asked for them. */
  private readonly remote = new Set<string>();
  /** While tunnels are up: the authorization checked again, so a lock, a reset or a deletion ends them too. */
  private recheck: NodeJS.Timeout | undefined;
  private checking = false;

  constructor(
    private readonly conn: Ssh2.Connection,
    private readonly cctx: ConnectionContext,
    private readonly target: Target,
    private readonly deps: PortForwardingDeps,
  ) {
    this.node = nodeName(target);
    this.log = deps.log.child({ component: 'proxy', user: cctx.identity.user, node: this.node });
  }

  serve(): void {
    this.conn.on('tcpip', (accept, reject, info) => void this.local(accept, reject, info));
    this.conn.on('request', (accept, reject, name, info) => {
      if (name === 'tcpip-forward') void this.listen(accept, reject, info as Ssh2.TcpipBindInfo);
      else if (name === 'cancel-tcpip-forward') void this.unlisten(accept, reject, info as Ssh2.TcpipBindInfo);
      else this.refuse({ request: name, ...(info as object) }, 'not supported', reject);
    });
    this.conn.on('close', () => {
      this.closed = true;
      clearInterval(this.recheck);
      void this.upstream?.then((up) => up.close(), () => undefined);
    });
  }

  /**
   * Sessions are ended by the live registry when a lock, a reset or a deletion names them; open
   * tunnels are not sessions, so their connection re-checks itself on the same one-second rhythm
   * and ends (with an audited `port` event) once it is no longer allowed. A store error is not a
   * refusal: the tunnels stay, and the next tick checks again.
   */
  private watchAuthorization(): void {
    if (this.recheck) return;
    this.recheck = setInterval(() => {
      if (this.checking || this.closed) return;
      this.checking = true;
      void this.authorize()
        .then((d) => {
          if (d.allowed || this.closed) return;
          if (d.reason.startsWith(LOOKUP_FAILED)) return this.log.warn('cannot re-check the tunnels\' authorization', { error: d.reason });
          this.log.info('ending tunnels that are no longer allowed', { reason: d.reason });
          this.audit({ allowed: false, ended: true, reason: d.reason });
          clearInterval(this.recheck);
          this.conn.end();
        })
        .finally(() => (this.checking = false));
    }, TUNNEL_RECHECK_MS);
    this.recheck.unref();
  }

  /** `-L`/`-D`: a `direct-tcpip` channel from the client, carried to the same destination on the node. */
  private async local(accept: () => Ssh2.ServerChannel, reject: (() => void) | undefined, info: Ssh2.TcpipRequestInfo): Promise<void> {
    const dest = `${info.destIP}:${info.destPort}`;
    const base = { direction: 'local' as Direction, dest, origin: `${info.srcIP}:${info.srcPort}` };
    const up = await this.authorizedUpstream(base, reject);
    if (!up) return;
    let nodeChannel: Ssh2.ClientChannel;
    try {
      nodeChannel = await up.forwardOut({ host: info.srcIP, port: info.srcPort }, { host: info.destIP, port: info.destPort });
    } catch (err) {
      return this.refuse(base, `the node refused the forward: ${(err as Error).message}`, reject);
    }
    const startedAt = this.deps.clock.now().getTime();
    const channel = accept();
    if (!channel) {
      nodeChannel.close();
      return;
    }
    this.finish(base, startedAt, await carryTunnel(channel, nodeChannel));
  }

  /** `-R`: a listener on the node; its connections are opened back to the client. */
  private async listen(accept: ((port?: number) => void) | undefined, reject: (() => void) | undefined, bind: Ssh2.TcpipBindInfo): Promise<void> {
    const listen = `${bind.bindAddr}:${bind.bindPort}`;
    const base = { request: 'tcpip-forward', direction: 'remote' as Direction, listen };
    const up = await this.authorizedUpstream(base, reject);
    if (!up) return;
    let port: number;
    try {
      port = await up.forwardIn({ host: bind.bindAddr, port: bind.bindPort });
    } catch (err) {
      return this.refuse(base, `the node refused the forward: ${(err as Error).message}`, reject);
    }
    this.remote.add(`${bind.bindAddr}:${port}`);
    this.audit({ ...base, allowed: true, bound_port: port });
    accept?.(port);
  }

  private async unlisten(accept: (() => void) | undefined, reject: (() => void) | undefined, bind: Ssh2.TcpipBindInfo): Promise<void> {
    const key = `${bind.bindAddr}:${bind.bindPort}`;
    if (!this.upstream || !this.remote.has(key)) return reject?.();
    try {
      await (await this.upstream).unforwardIn({ host: bind.bindAddr, port: bind.bindPort });
      this.remote.delete(key);
      this.log.info('remote forward cancelled', { listen: key });
      accept?.();
    } catch (err) {
      this.log.info('the node refused to cancel a remote forward', { listen: key, error: (err as Error).message });
      reject?.();
    }
  }

  /** A connection to one of our listeners on the node: checked again, then opened to the client. */
  private async forwarded(info: Ssh2.TcpConnectionDetails, accept: () => Ssh2.ClientChannel, reject: () => void): Promise<void> {
    const base = { direction: 'remote' as Direction, listen: `${info.destIP}:${info.destPort}`, origin: `${info.srcIP}:${info.srcPort}` };
    const denied = await this.denial();
    if (denied) return this.refuse(base, denied, reject);
    let clientChannel: Ssh2.ServerChannel;
    try {
      clientChannel = await new Promise<Ssh2.ServerChannel>((resolve, fail) =>
        this.conn.forwardOut(info.destIP, info.destPort, info.srcIP, info.srcPort, (err, ch) => (err ? fail(err) : resolve(ch))),
      );
    } catch (err) {
      return this.refuse(base, `the client refused the forward: ${(err as Error).message}`, reject);
    }
    const startedAt = this.deps.clock.now().getTime();
    this.finish(base, startedAt, await carryTunnel(clientChannel, accept()));
  }

  /** The authorization that applies to sessions, again for each forward. */
  private async authorize(): Promise<Authorization> {
    const who = this.cctx.identity;
    try {
      const node = this.deps.findNode ? await this.deps.findNode(this.target.host, this.target.port) : undefined;
      return authorizeTunnel(who, this.target, { ...(await authorizationFacts(this.deps, who, this.deps.clock.now())), node, refuseUnregistered: this.deps.refuseUnregistered });
    } catch (err) {
      return { allowed: false, reason: `${LOOKUP_FAILED}: ${(err as Error).message}`, line: '' };
    }
  }

  private async denial(): Promise<string | undefined> {
    const decision = await this.authorize();
    return decision.allowed ? undefined : decision.reason;
  }

  /** Authorizes, then dials the node (once per inner connection); refuses and audits on failure. */
  private async authorizedUpstream(base: AuditFields, reject: (() => void) | undefined): Promise<TunnelUpstream | undefined> {
    const decision = await this.authorize();
    if (!decision.allowed) {
      this.refuse(base, decision.reason, reject);
      return undefined;
    }
    try {
      return await this.connect(decision);
    } catch (err) {
      this.refuse(base, (err as Error).message, reject);
      return undefined;
    }
  }

  private connect(decision: Extract<Authorization, { allowed: true }>): Promise<TunnelUpstream> {
    if (this.upstream) return this.upstream;
    let agentRefused = false;
    const who = this.cctx.identity;
    const tunnelId = crypto.randomUUID();
    const dial = upstreamCredentials(this.deps, decision.node, { user: who.user, sessionId: tunnelId, login: decision.target.login, agentForwarding: false, portForwarding: true })
      .then((sessionCert) =>
        this.deps.upstream.connectTunnels({
          target: decision.target,
          hostName: decision.node?.name,
          sessionCert,
          identity: who,
          openAgent: () =>
            this.cctx.openAgent().catch((err: Error) => {
              agentRefused = true;
              throw err;
            }),
          // The agent is forwarded on only for session channels, and this connection has none.
          keepAgent: false,
        }),
      )
      .then(
        (up) => {
          if (this.closed) up.close();
          else this.watchAuthorization();
          up.onForwarded((info, accept, reject) => void this.forwarded(info, accept, reject));
          up.onLost((message) => {
            this.log.warn('node connection for tunnels lost', { error: message });
            this.upstream = undefined;
            this.remote.clear();
          });
          return up;
        },
        (err: Error) => {
          this.upstream = undefined;
          throw new Error(agentRefused ? 'no agent forwarding' : `cannot connect to ${this.target.login}@${this.node}: ${err.message}`);
        },
      );
    this.upstream = dial;
    return dial;
  }

  private refuse(fields: AuditFields, reason: string, reject: (() => void) | undefined): void {
    this.audit({ ...fields, allowed: false, reason });
    reject?.();
  }

  private finish(fields: AuditFields, startedAt: number, carried: Carried): void {
    this.audit({
      ...fields,
      allowed: true,
      bytes_in: carried.bytesIn,
      bytes_out: carried.bytesOut,
      started_at: new Date(startedAt).toISOString(),
      ended_at: this.deps.clock.now().toISOString(),
      ...(carried.error ? { error: carried.error } : {}),
    });
  }

  private audit(fields: AuditFields): void {
    const t = this.target;
    this.deps.auditor.emit(AuditEvents.port, this.cctx.identity.user, { login: t.login, node: this.node, addr: this.cctx.identity.clientAddr, ...fields });
  }
}
