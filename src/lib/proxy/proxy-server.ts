import net from 'node:net';
import type { Duplex } from 'node:stream';
import ssh2 from 'ssh2';
import type * as Ssh2 from 'ssh2';
import type { AuthService, NodeInventory } from '../auth/index.js';
import type { Clock } from '../clock.js';
import { formatHostPort, isValidHost, type HostPort } from '../address.js';
import { unavailable } from '../errors.js';
import type { Logger } from '../log.js';
import { AuditEvents } from '../audit/index.js';
import { cipherAlgorithms, openForwardedAgent } from '../ssh/index.js';
import type { Store } from '../store/index.js';
import { AuthFailureAudit, EventTally, MAX_STARTUPS, MAX_UNAUTHENTICATED, MAX_UNAUTHENTICATED_PER_SOURCE, sourceKey, UnauthenticatedLimiter } from './connection-limits.js';
import type { HostCertificates } from './host-certs.js';
import { createAuthenticator, type AuthGuard } from './authentication.js';
import { authorizationFacts, handleSession, identityRefusal, startClientSession, type ClientChannel, type ConnectionContext, type Identity, type PipelineDeps, type Relay, type SessionLimits, type SessionPlan, type SessionRecorder, type TapConsumer } from './session/index.js';
import { refuseForwardRequests, servePortForwarding, type PortForwardingDeps } from './port-forwarding.js';
import type { TargetPolicy } from './targets.js';
import type { UpstreamConnector } from './upstream.js';
import { serveJoin, type LiveDirectory, type LiveSessions } from './live/index.js';
import { clientSessionPlan, type ClientSessionRequest } from './client-session.js';

/**
 * Unauthenticated connections are closed this long after the TCP accept (OpenSSH's LoginGraceTime
 * is 120 s). One deadline, not an idle timeout: a client that trickles a byte every few seconds
 * (before its banner, in the middle of a packet, between auth attempts) is closed all the same.
 */
export const LOGIN_GRACE_MS = 30_000;
/** From the accept to the client's version line (ssh sends it at once; a half-open socket never does). */
export const VERSION_LINE_DEADLINE_MS = 5_000;
export { MAX_AUTH_TRIES } from './authentication.js';

export interface SshProxyOptions {
  /** undefined: no listener (a daemon whose SSH workers accept connections; its web terminals still open sessions here). */
  listen: HostPort | undefined;
  principals: string[];
  auth: AuthService;
  store: Store;
  clock: Clock;
  log: Logger;
  /** Records each session (RecordingService), or only audits it (session_recording: off). */
  recordings: SessionRecorder;
  /** client_idle_timeout and disconnect_expired_cert. */
  limits: SessionLimits;
  upstream: UpstreamConnector;
  hostCerts: HostCertificates;
  policy: TargetPolicy;
  forwardAgentToNodes: boolean;
  /** Registered nodes (agentless: per-session certificates from the OpenSSH CA). */
  inventory: NodeInventory;
  /** proxy_service.allow_unregistered_nodes: no refuses targets that are not in the inventory. */
  refuseUnregistered: boolean;
  /** proxy_service.allow_port_forwarding: carry inner connections' tunnels to their node. */
  allowPortForwarding: boolean;
  version: string;
  /** Optional taps for each session (the search indexer); see PipelineDeps.optionalTaps. */
  optionalTaps?: PipelineDeps['optionalTaps'];
  /** The registry of running sessions, shared with the web API (sessions ls) and the admin API (sessions end). */
  live?: LiveSessions;
  /** Other daemons' running sessions (shared PostgreSQL): tsh join through this proxy follows their shipped recordings. */
  liveDirectory?: LiveDirectory;
  /**
   * A join of a session this proxy does not relay, offered first to the process that does (a
   * sibling SSH worker on this machine, src/lib/cluster's join bridge); false: not handled, so
   * it is followed through the shipped recording (or refused) as before.
   */
  /**
   * How many processes accept this proxy's connections (teleport.workers): each takes its share
   * of the unauthenticated-connection limits, so the daemon's bounds stay those of one process.
   */
  admissionShares?: number;
  joinElsewhere?: (channel: Ssh2.ServerChannel, who: Identity, req: { id: string; mode: 'observer' | 'peer' }) => Promise<boolean>;
}

export interface SshProxy {
  address: HostPort;
  /** Whether the listener still accepts connections (readiness). */
  listening(): boolean;
  /** Sessions being relayed now. */
  activeSessions(): number;
  /**
   * Graceful shutdown: stops accepting connections and new sessions at once, waits up to
   * `timeoutMs` for running sessions to end, then ends the rest with `line` (their recordings are
   * finished and sealed before this resolves). Returns how many had to be ended.
   */
  drain(timeoutMs: number, line: string): Promise<{ waited: number; ended: number }>;
  /**
   * A terminal session for a client without SSH or an agent (the web UI's terminal) on `channel`:
   * the same pipeline, recording and audit as any session. Returns where window changes go.
   */
  openClientSession(req: ClientSessionRequest, channel: ClientChannel): { resize(cols: number, rows: number): void };
  /** tsh join of a session this proxy relays, for a channel that reached another process (the join bridge). */
  joinHere(channel: Ssh2.ServerChannel, who: Identity, req: { id: string; mode: 'observer' | 'peer' }): Promise<void>;
  close(): Promise<void>;
}

/**
 * The SSH recording proxy. Outer connections authenticate with a user certificate; sessions name
 * their node (tsh) or the client nests a second SSH connection in a direct-tcpip channel
 * (`ssh -J`), which the proxy terminates with a host certificate for the dialled name.
 */
export async function startSshProxy(o: SshProxyOptions): Promise<SshProxy> {
  const log = o.log.child({ component: 'proxy' });
  const auditor = o.auth.auditor;
  const relays = new Set<Relay>();
  let draining = false;
  /** Sessions past admission but not yet relayed (dialling the node, starting the recording). */
  let settingUp = 0;
  const lookupUser = async (name: string) => (await o.store.getUser(name)) ?? undefined;
  const nodes = {
    findNode: (host: string, port: number) => o.inventory.findNode(host, port),
    mintSessionCert: (req: Parameters<AuthService['mintSessionCert']>[0]) => o.auth.mintSessionCert(req),
    refuseUnregistered: o.refuseUnregistered,
    revocation: {
      certIssuedAt: async (serial: string) => (await o.store.getIssuedCert(serial))?.createdAt,
      locks: (now: number) => o.store.listLocks(now),
    },
  };
  const deps: PipelineDeps = {
    recordings: o.recordings,
    upstream: o.upstream,
    auditor,
    clock: o.clock,
    log,
    lookupUser,
    ...nodes,
    forwardAgentToNodes: o.forwardAgentToNodes,
    limits: o.limits,
    ...(o.optionalTaps ? { optionalTaps: o.optionalTaps } : {}),
    ...(o.live ? { live: liveHooks(o.live) } : {}),
    track(relay) {
      relays.add(relay);
      void relay.done.finally(() => relays.delete(relay));
    },
    draining: () => draining,
    settingUp() {
      settingUp++;
      let done = false;
      return () => {
        if (!done) settingUp--;
        done = true;
      };
    },
  };
  /** Revoked (reset, re-created), expired or user-locked: the same rule for connections and joins. */
  const checkIdentity = async (who: Identity): Promise<string | undefined> => identityRefusal(who, await authorizationFacts(deps, who, o.clock.now()))?.reason;
  function liveHooks(live: LiveSessions): PipelineDeps['live'] {
    return {
      begin: (meta) => live.begin(meta),
      remove: (id) => live.remove(id),
      join: async (channel, who, req) => {
        if (o.joinElsewhere && !live.get(req.id) && (await o.joinElsewhere(channel, who, req))) return;
        const dir = o.liveDirectory;
        return serveJoin(channel, who, req, { live, auditor, log, lookupUser, checkIdentity, ...(dir ? { remote: { find: (id: string) => dir.remote(id), store: dir.shipped } } : {}) });
      },
    };
  }
  // A flood of failed authentications is a bounded number of audit events per source and window.
  const authFailures = new AuthFailureAudit((user, fields) => auditor.emit(AuditEvents.auth, user, fields));
  const authenticate = createAuthenticator({
    userCaBlob: () => o.auth.ca('user').publicBlob,
    lookupUser,
    clock: o.clock,
    auditor,
    reportFailure: (f) => authFailures.note(f),
  });
  const conns = new Set<Ssh2.Connection>();
  const shares = Math.max(1, o.admissionShares ?? 1);
  // Each worker takes its share, at least 1 (rounded down: the sum never passes the daemon's bound
  // while there are fewer workers than the limit; past that, N workers admit N).
  const share = (limit: number) => Math.max(1, Math.floor(limit / shares));
  const limiter = new UnauthenticatedLimiter({ total: share(MAX_UNAUTHENTICATED), perSource: share(MAX_UNAUTHENTICATED_PER_SOURCE), start: share(MAX_STARTUPS.start), rate: MAX_STARTUPS.rate });
  /** Sockets not yet authenticated, by `ip|port`, so the ssh2 connection handler can find its own. */
  const unauthenticated = new Map<string, { socket: net.Socket; authenticated: () => void; identified: () => void }>();
  // A flood is a few lines and audit events per window, not one per connection.
  const refused = new EventTally((r) => {
    const reason = `too many unauthenticated connections (MaxStartups ${MAX_STARTUPS.start}:${MAX_STARTUPS.rate}:${MAX_STARTUPS.full}, ${MAX_UNAUTHENTICATED_PER_SOURCE} per source)`;
    log.warn('refused SSH connections', { count: r.count, reason, sources: r.summary });
    auditor.emit(AuditEvents.sessionRejected, null, { reason, count: r.count, sources: r.top });
  });
  const graceExpired = new EventTally((r) => log.info('closed SSH connections that did not authenticate in time', { count: r.count, grace_s: LOGIN_GRACE_MS / 1000, sources: r.summary }));
  const noVersion = new EventTally((r) => log.info('closed SSH connections that sent no version line in time', { count: r.count, deadline_s: VERSION_LINE_DEADLINE_MS / 1000, sources: r.summary }));
  const evicted = new EventTally((r) => log.warn('closed half-open SSH connections to admit other sources', { count: r.count, sources: r.summary }));

  const forwarding: PortForwardingDeps = { allowed: o.allowPortForwarding, upstream: o.upstream, auditor, clock: o.clock, log, lookupUser, ...nodes };

  function onInner(conn: Ssh2.Connection, outer: Identity, target: { host: string; port: number }): void {
    conns.add(conn);
    let identity: Identity | undefined;
    let login = '';
    const guard: AuthGuard = { failures: 0, nones: 0, end: () => conn.end() };
    conn.on('authentication', (ctx) =>
      authenticate(
        ctx,
        outer.clientAddr,
        { kind: 'inner', outerUser: outer.user },
        (id, username) => {
          identity = id;
          login = username;
        },
        guard,
      ),
    );
    conn.on('ready', () => {
      const cctx: ConnectionContext = {
        identity: identity!,
        target: { login, host: target.host, port: target.port },
        agentRequested: false,
        openAgent: () => openForwardedAgent(conn) as Promise<Duplex>,
      };
      conn.on('session', (accept) => handleSession(accept(), cctx, deps));
      // Tunnels are not recordings (DESIGN.md): refused and audited unless allow_port_forwarding.
      servePortForwarding(conn, cctx, forwarding);
    });
    conn.on('error', (err) => log.debug('inner connection error', { error: err.message }));
    conn.on('close', () => conns.delete(conn));
  }

  const server = new ssh2.Server(
    { hostKeys: o.hostCerts.forProxy(o.principals), ident: `tollgate_${o.version}`, algorithms: cipherAlgorithms() },
    (conn, info) => {
      conns.add(conn);
      const addr = info.ip;
      let identity: Identity | undefined;
      const pending = unauthenticated.get(`${info.ip}|${info.port}`);
      // ssh2 calls this once the client's version line has arrived.
      pending?.identified();
      const guard: AuthGuard = { failures: 0, nones: 0, end: () => conn.end() };
      conn.on('authentication', (ctx) => authenticate(ctx, addr, { kind: 'outer' }, (id) => (identity = id), guard));
      conn.on('ready', () => {
        pending?.authenticated();
        const id = identity!;
        const cctx: ConnectionContext = { identity: id, target: undefined, agentRequested: false, openAgent: () => openForwardedAgent(conn) as Promise<Duplex> };
        conn.on('session', (accept) => handleSession(accept(), cctx, deps));
        // -R on the outer connection: there is no node to carry it to.
        refuseForwardRequests(conn, id, auditor);
        conn.on('tcpip', (accept, reject, info) => {
          // `ssh -J`: the client nests its SSH connection to the node in this channel; terminate it
          // here, with a host certificate for the dialled name, once the name is allowed.
          const target = { host: info.destIP, port: info.destPort };
          if (!isValidHost(target.host)) {
            auditor.emit(AuditEvents.sessionRejected, id.user, { reason: `invalid node name ${JSON.stringify(target.host)}`, addr });
            return reject?.();
          }
          // A registered node's name is not in DNS: the policy checks the address it is registered at.
          o.inventory
            .findNode(target.host, target.port)
            .then((node) => o.policy.resolve(node?.host ?? target.host, node?.port ?? target.port))
            .then(
            () => {
              const inner = new ssh2.Server({ hostKeys: o.hostCerts.forNode(target.host), ident: `tollgate_${o.version}`, algorithms: cipherAlgorithms() }, (innerConn) => onInner(innerConn, id, target));
              const channel = accept();
              if (!channel) return;
              inner.injectSocket(channel as unknown as net.Socket);
            },
            (err: Error) => {
              auditor.emit(AuditEvents.sessionRejected, id.user, { reason: err.message, node: `${target.host}:${target.port}`, addr });
              reject?.();
            },
          );
        });
      });
      conn.on('error', (err) => log.debug('client connection error', { error: err.message, addr }));
      conn.on('close', () => conns.delete(conn));
    },
  );

  /**
   * The TCP listener is ours, not ssh2's, so the limits and the grace period start at the accept:
   * ssh2 calls its connection handler only once the client's banner line has arrived, and a
   * client that never finishes that line would otherwise hold its socket forever.
   */
  const listener = net.createServer((socket) => {
    // Without it each of the handshake's back-to-back small packets waits for the peer's delayed
    // ACK (40 ms here); OpenSSH sets TCP_NODELAY too.
    socket.setNoDelay(true);
    const ip = socket.remoteAddress;
    if (!ip) {
      socket.destroy();
      return;
    }
    const slot = limiter.admit(ip, () => {
      evicted.note(sourceKey(ip));
      socket.destroy();
    });
    if (!slot.ok) {
      refused.note(sourceKey(ip));
      socket.destroy();
      return;
    }
    const key = `${ip}|${socket.remotePort}`;
    const grace = setTimeout(() => {
      graceExpired.note(sourceKey(ip));
      socket.destroy();
    }, LOGIN_GRACE_MS);
    grace.unref();
    // A client sends its version line at once (RFC 4253 §4.2); one that does not is not a client.
    const versionDeadline = setTimeout(() => {
      noVersion.note(sourceKey(ip));
      socket.destroy();
    }, VERSION_LINE_DEADLINE_MS);
    versionDeadline.unref();
    const authenticated = () => {
      clearTimeout(grace);
      clearTimeout(versionDeadline);
      slot.release();
      unauthenticated.delete(key);
    };
    unauthenticated.set(key, { socket, authenticated, identified: () => clearTimeout(versionDeadline) });
    socket.once('close', authenticated);
    server.injectSocket(socket);
  });
  const listen = o.listen;
  if (listen) {
    await new Promise<void>((resolve, reject) => {
      listener.once('error', (err: NodeJS.ErrnoException) =>
        reject(unavailable(`cannot listen on ${formatHostPort(listen)} (proxy_service.listen_addr): ${err.code === 'EADDRINUSE' ? 'address already in use' : err.message}`, 'stop whatever uses that port or pick another listen_addr', err)),
      );
      listener.listen(listen.port, listen.host, () => resolve());
    });
  }
  // After start-up, accept errors (EMFILE, ...) are logged; an unheard 'error' would end the daemon.
  listener.on('error', (err: Error) => log.error('ssh listener error', { error: err.message }));
  const a = (listener.address() as net.AddressInfo | null) ?? { address: '', port: 0 };
  const stopListening = () => new Promise<void>((resolve) => (listener.listening ? listener.close(() => resolve()) : resolve()));
  let listenerClosed: Promise<void> | undefined;
  return {
    address: { host: a.address, port: a.port },
    listening: () => listener.listening,
    activeSessions: () => relays.size,
    openClientSession(req, channel) {
      const plan = clientSessionPlan(req);
      const started = startClientSession(plan, channel, deps);
      return {
        resize(cols, rows) {
          const live = started.live();
          // Before the relay runs, the size the session opens with changes instead.
          if (live) live.resize({ cols, rows, width: 0, height: 0 });
          else if (plan.pty) Object.assign(plan.pty, { cols, rows });
        },
      };
    },
    joinHere: (channel, who, req) => (o.live ? serveJoin(channel, who, req, { live: o.live, auditor, log, lookupUser, checkIdentity }) : Promise.resolve()),
    async drain(timeoutMs, line) {
      draining = true;
      // listener.close() stops accepting at once; its callback waits for open connections, so it is not awaited here.
      listenerClosed ??= stopListening();
      // Connections still authenticating would only be refused a session: close them now.
      for (const { socket } of unauthenticated.values()) socket.destroy();
      const waited = relays.size + settingUp;
      const deadline = Date.now() + timeoutMs;
      while (relays.size + settingUp > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, Math.min(100, Math.max(1, deadline - Date.now()))));
      const left = [...relays];
      for (const relay of left) relay.stop('proxy shut down (drain_timeout reached)', line);
      // stop() finishes the recording (sealed, session.end written) before done resolves.
      await Promise.all(left.map((r) => r.done));
      return { waited, ended: left.length };
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const c of conns) c.end();
        for (const { socket } of unauthenticated.values()) socket.destroy();
        refused.close();
        graceExpired.close();
        noVersion.close();
        evicted.close();
        authFailures.close();
        o.hostCerts.close();
        if (listenerClosed) void listenerClosed.then(() => resolve());
        else listener.close(() => resolve());
      }),
  };
}
