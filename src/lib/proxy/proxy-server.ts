import net from 'node:net';
import type { Duplex } from 'node:stream';
import ssh2 from 'ssh2';
import type * as Ssh2 from 'ssh2';
import type { AuthService } from '../auth/auth-service.js';
import type { Clock } from '../clock.js';
import { formatHostPort, isValidHost, type HostPort } from '../config/address.js';
import { unavailable } from '../errors.js';
import type { Logger } from '../log.js';
import type { RecordingService } from '../recording/session-recorder.js';
import { openForwardedAgent, verifyUserCertAuth } from '../ssh/ssh2-certs.js';
import type { Store } from '../store/types.js';
import type { HostCertificates } from './host-certs.js';
import { handleSession, type ConnectionContext, type Identity, type RelayDeps } from './session-relay.js';
import type { TargetPolicy } from './targets.js';
import type { UpstreamConnector } from './upstream.js';

/** Unauthenticated connections are closed after this long (OpenSSH's LoginGraceTime is 120 s). */
export const LOGIN_GRACE_MS = 30_000;
/** Failed authentication attempts allowed per connection (OpenSSH's MaxAuthTries is 6). */
export const MAX_AUTH_TRIES = 6;

export interface SshProxyOptions {
  listen: HostPort;
  principals: string[];
  auth: AuthService;
  store: Store;
  clock: Clock;
  log: Logger;
  recordings: RecordingService;
  upstream: UpstreamConnector;
  hostCerts: HostCertificates;
  policy: TargetPolicy;
  forwardAgentToNodes: boolean;
  allowPortForwarding: boolean;
  version: string;
}

export interface SshProxy {
  address: HostPort;
  close(): Promise<void>;
}

type AuthMode = { kind: 'outer' } | { kind: 'inner'; outerUser: string };

/**
 * The SSH recording proxy. Outer connections authenticate with a user certificate; sessions name
 * their node (tsh) or the client nests a second SSH connection in a direct-tcpip channel
 * (`ssh -J`), which the proxy terminates with a host certificate for the dialled name.
 */
export async function startSshProxy(o: SshProxyOptions): Promise<SshProxy> {
  const log = o.log.child({ component: 'proxy' });
  const deps: RelayDeps = {
    recordings: o.recordings,
    upstream: o.upstream,
    log,
    audit: (e, u, f) => o.auth.audit(e, u, f),
    forwardAgentToNodes: o.forwardAgentToNodes,
    recheck: async (id) => {
      const user = await o.store.getUser(id.user);
      const now = o.clock.now();
      if (!user) return `user ${id.user} no longer exists`;
      if (user.lockedUntil && user.lockedUntil > now.getTime()) return `user ${id.user} is locked`;
      if (BigInt(Math.floor(now.getTime() / 1000)) >= id.cert.validBefore) return 'your certificate has expired; run tsh login';
      return undefined;
    },
  };
  const userCaBlob = () => o.auth.ca('user').publicBlob;
  const conns = new Set<Ssh2.Connection>();

  /** Shared by outer and inner connections: certificate, signature, user still exists and is not locked. */
  function authenticate(ctx: Ssh2.AuthContext, addr: string, mode: AuthMode, onIdentity: (id: Identity, username: string) => void, guard: { failures: number; conn: Ssh2.Connection }): void {
    if (ctx.method === 'none') return ctx.reject(['publickey']);
    const fail = (reason: string) => {
      void o.auth.audit('auth', ctx.username, { reason, method: ctx.method, addr, hop: mode.kind }).catch(() => {});
      ctx.reject(['publickey']);
      if (++guard.failures >= MAX_AUTH_TRIES) guard.conn.end();
    };
    if (ctx.method !== 'publickey') return fail(`${ctx.method} authentication is not accepted`);
    const r = verifyUserCertAuth(ctx as Ssh2.PublicKeyAuthContext, { userCaBlob: userCaBlob(), now: o.clock.now() });
    if (!r.ok) return fail(r.reason);
    const cert = r.cert;
    // Outer: the SSH user is the tollgate user or one of its logins. Inner: the login must be allowed.
    if (mode.kind === 'outer' ? ctx.username !== cert.keyId && !cert.principals.includes(ctx.username) : !cert.principals.includes(ctx.username)) {
      return fail(`certificate does not allow "${ctx.username}"`);
    }
    if (mode.kind === 'inner' && cert.keyId !== mode.outerUser) return fail(`inner certificate is for ${cert.keyId}, the connection for ${mode.outerUser}`);
    void o.store.getUser(cert.keyId).then(
      (user) => {
        const now = o.clock.now().getTime();
        if (!user) return fail(`user ${cert.keyId} does not exist`);
        if (user.lockedUntil && user.lockedUntil > now) return fail(`user ${cert.keyId} is locked`);
        if (r.needsSignature) return ctx.accept();
        onIdentity({ user: cert.keyId, cert, clientAddr: addr }, ctx.username);
        ctx.accept();
      },
      (err: Error) => fail(`store error: ${err.message}`),
    );
  }

  function serveSessions(conn: Ssh2.Connection, cctx: ConnectionContext): void {
    conn.on('session', (accept) => handleSession(accept(), cctx, deps));
    conn.on('request', (accept, reject, name, info) => {
      // -R remote forwards: tunnels are not recordings (DESIGN.md).
      void o.auth.audit('port', cctx.identity.user, { request: name, allowed: false, addr: cctx.identity.clientAddr, ...(info as object) }).catch(() => {});
      reject?.();
    });
  }

  function onInner(conn: Ssh2.Connection, outer: Identity, target: { host: string; port: number }): void {
    conns.add(conn);
    let identity: Identity | undefined;
    let login = '';
    const guard = { failures: 0, conn };
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
      serveSessions(conn, cctx);
      conn.on('tcpip', (_a, reject, info) => {
        void o.auth.audit('port', identity!.user, { allowed: false, dest: `${info.destIP}:${info.destPort}`, addr: outer.clientAddr }).catch(() => {});
        reject?.();
      });
    });
    conn.on('error', (err) => log.debug('inner connection error', { error: err.message }));
    conn.on('close', () => conns.delete(conn));
  }

  const server = new ssh2.Server(
    { hostKeys: o.hostCerts.forProxy(o.principals), ident: `tollgate_${o.version}` },
    (conn, info) => {
      conns.add(conn);
      const addr = info.ip;
      let identity: Identity | undefined;
      // Unauthenticated connections do not get to hold resources for long.
      const grace = setTimeout(() => {
        log.info('closing a connection that did not authenticate in time', { addr });
        conn.end();
      }, LOGIN_GRACE_MS);
      grace.unref();
      const guard = { failures: 0, conn };
      conn.on('authentication', (ctx) => authenticate(ctx, addr, { kind: 'outer' }, (id) => (identity = id), guard));
      conn.on('ready', () => {
        clearTimeout(grace);
        const id = identity!;
        const cctx: ConnectionContext = { identity: id, target: undefined, agentRequested: false, openAgent: () => openForwardedAgent(conn) as Promise<Duplex> };
        serveSessions(conn, cctx);
        conn.on('tcpip', (accept, reject, info) => {
          // `ssh -J`: the client nests its SSH connection to the node in this channel; terminate it
          // here, with a host certificate for the dialled name, once the name is allowed.
          const target = { host: info.destIP, port: info.destPort };
          if (!isValidHost(target.host)) {
            void o.auth.audit('session.rejected', id.user, { reason: `invalid node name ${JSON.stringify(target.host)}`, addr }).catch(() => {});
            return reject?.();
          }
          o.policy.resolve(target.host, target.port).then(
            () => {
              const inner = new ssh2.Server({ hostKeys: o.hostCerts.forNode(target.host), ident: `tollgate_${o.version}` }, (innerConn) => onInner(innerConn, id, target));
              const channel = accept();
              if (!channel) return;
              inner.injectSocket(channel as unknown as net.Socket);
            },
            (err: Error) => {
              void o.auth.audit('session.rejected', id.user, { reason: err.message, node: `${target.host}:${target.port}`, addr }).catch(() => {});
              reject?.();
            },
          );
        });
      });
      conn.on('error', (err) => log.debug('client connection error', { error: err.message, addr }));
      conn.on('close', () => {
        clearTimeout(grace);
        conns.delete(conn);
      });
    },
  );
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) =>
      reject(unavailable(`cannot listen on ${formatHostPort(o.listen)} (proxy_service.listen_addr): ${err.code === 'EADDRINUSE' ? 'address already in use' : err.message}`, 'stop whatever uses that port or pick another listen_addr', err)),
    );
    server.listen(o.listen.port, o.listen.host, () => resolve());
  });
  // After start-up, accept errors (EMFILE, ...) are logged; an unheard 'error' would end the daemon.
  server.on('error', (err: Error) => log.error('ssh listener error', { error: err.message }));
  const a = server.address() as net.AddressInfo;
  return {
    address: { host: a.address, port: a.port },
    close: () =>
      new Promise<void>((resolve) => {
        for (const c of conns) c.end();
        o.hostCerts.close();
        server.close(() => resolve());
      }),
  };
}
