import https from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import { getRequestListener } from '@hono/node-server';
import { formatHostPort, sourceKey, type HostPort } from '../address.js';
import { unavailable } from '../errors.js';
import type { Logger } from '../log.js';
import type { TlsMaterial } from './tls.js';
import { createWebApp, type WebAppOptions } from './web-app.js';
import { createTerminalUpgrade } from './web-terminal.js';

export interface WebServer {
  /** The bound address (the real port when the config said 0). */
  address: HostPort;
  /** Whether the listener still accepts connections (readiness). */
  listening(): boolean;
  /** Serves new TLS connections with another certificate (SIGHUP); open connections keep theirs. */
  setTls(tls: TlsMaterial): void;
  /** Stops accepting connections; open ones (a recording being streamed) finish. */
  stopAccepting(): void;
  close(): Promise<void>;
}

/*
 * Limits that bound what a slow, idle or hostile client can hold (the web API's only big requests
 * are 64 KiB bodies, refused past that in the app). Each is a deadline from the start of its phase,
 * not an idle timer, so trickling a byte every few seconds does not extend it.
 */
/** TLS handshake, from the TCP accept (Node's default is 120 s). */
export const TLS_HANDSHAKE_TIMEOUT_MS = 10_000;
/** Request line and headers, from the end of the handshake or the previous request. */
export const HEADERS_TIMEOUT_MS = 10_000;
/** A whole request, body included. */
export const REQUEST_TIMEOUT_MS = 30_000;
/** An idle keep-alive connection between requests. */
export const KEEP_ALIVE_TIMEOUT_MS = 5_000;
/** A connection on which nothing moves either way (a client that stops reading a response). */
export const SOCKET_IDLE_TIMEOUT_MS = 60_000;
/** How often the header and request deadlines are checked (Node's default, 30 s, would let them run 3x over). */
const DEADLINE_CHECK_INTERVAL_MS = 1_000;
/** Request line plus headers; larger is 431. Browsers' cookies and a bearer token fit in 16 KiB. */
export const MAX_HEADER_BYTES = 16 * 1024;
/**
 * Concurrent connections (TCP, before TLS); past it new ones are closed at once. Bounds memory
 * (tens of KiB of TLS and parser state each); tsh and browsers need a handful each, briefly.
 */
export const MAX_WEB_CONNECTIONS = 512;
/**
 * Concurrent connections from one source (an IPv4 address, an IPv6 /64), so that one host cannot
 * hold every slot above and make the web API unreachable for everyone else. Browsers open six
 * per host and tsh a few; a NAT of many users stays well below.
 */
export const MAX_WEB_CONNECTIONS_PER_SOURCE = 64;

/** Serves the web app over HTTPS on `listen`, with the limits above. */
export async function startWebServer(listen: HostPort, tls: TlsMaterial, o: WebAppOptions & { log: Logger }): Promise<WebServer> {
  const app = createWebApp(o);
  const server = https.createServer(
    {
      cert: tls.cert,
      key: tls.key,
      minVersion: 'TLSv1.2',
      handshakeTimeout: TLS_HANDSHAKE_TIMEOUT_MS,
      requestTimeout: REQUEST_TIMEOUT_MS,
      headersTimeout: HEADERS_TIMEOUT_MS,
      keepAliveTimeout: KEEP_ALIVE_TIMEOUT_MS,
      connectionsCheckingInterval: DEADLINE_CHECK_INTERVAL_MS,
      maxHeaderSize: MAX_HEADER_BYTES,
    },
    getRequestListener(app.fetch),
  );
  // The browser terminal's WebSocket (web-terminal.ts checks cookie, CSRF token and Origin).
  const terminal = o.terminals ? createTerminalUpgrade({ login: o.login, auth: o.auth, terminals: o.terminals, log: o.log }) : undefined;
  server.on('upgrade', (req, socket, head) => {
    if (!terminal?.handle(req, socket, head)) socket.end('HTTP/1.1 404 Not Found\r\nconnection: close\r\ncontent-length: 0\r\n\r\n');
  });
  server.setTimeout(SOCKET_IDLE_TIMEOUT_MS);
  // The first refusal is logged at once, then one count per 10 s while they go on, however many.
  let dropped = 0;
  let dropWindow: NodeJS.Timeout | undefined;
  const reportDrops = () => {
    dropWindow = undefined;
    if (dropped === 0) return;
    o.log.warn('refused HTTPS connections: too many open', { component: 'web', count: dropped, limit: MAX_WEB_CONNECTIONS });
    dropped = 0;
    dropWindow = setTimeout(reportDrops, 10_000).unref();
  };
  // Per source: counted from the TCP accept (before TLS) to the close, oldest first.
  const bySource = new Map<string, Socket[]>();
  let open = 0;
  let droppedPerSource = 0;
  let perSourceWindow: NodeJS.Timeout | undefined;
  const reportPerSource = () => {
    perSourceWindow = undefined;
    if (droppedPerSource === 0) return;
    o.log.warn('refused HTTPS connections: too many open from one source', { component: 'web', count: droppedPerSource, limit: MAX_WEB_CONNECTIONS_PER_SOURCE });
    droppedPerSource = 0;
    perSourceWindow = setTimeout(reportPerSource, 10_000).unref();
  };
  /**
   * When every slot is taken, a newcomer from a source holding fewer connections takes the oldest
   * slot of the source holding the most (as the SSH listener's admission does): a few hosts
   * holding everything cannot keep everyone else out. Otherwise the newcomer is refused.
   */
  const evictFor = (key: string): boolean => {
    let busiest: Socket[] | undefined;
    for (const list of bySource.values()) if (!busiest || list.length > busiest.length) busiest = list;
    const mine = bySource.get(key)?.length ?? 0;
    if (!busiest || busiest.length <= mine + 1) return false;
    busiest[0]!.destroy();
    return true;
  };
  server.on('connection', (socket: Socket) => {
    const key = socket.remoteAddress ? sourceKey(socket.remoteAddress) : 'unknown';
    const list = bySource.get(key) ?? [];
    if (list.length >= MAX_WEB_CONNECTIONS_PER_SOURCE) {
      droppedPerSource++;
      if (!perSourceWindow) reportPerSource();
      socket.destroy();
      return;
    }
    if (open >= MAX_WEB_CONNECTIONS && !evictFor(key)) {
      dropped++;
      if (!dropWindow) reportDrops();
      socket.destroy();
      return;
    }
    open++;
    list.push(socket);
    bySource.set(key, list);
    socket.once('close', () => {
      open--;
      const at = list.indexOf(socket);
      if (at >= 0) list.splice(at, 1);
      if (list.length === 0 && bySource.get(key) === list) bySource.delete(key);
    });
  });
  server.on('tlsClientError', (err) => o.log.debug('TLS handshake failed', { component: 'web', error: err.message }));
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) =>
      reject(
        unavailable(
          `cannot listen on ${formatHostPort(listen)} (proxy_service.web_listen_addr): ${err.code === 'EADDRINUSE' ? 'address already in use' : err.message}`,
          'stop whatever uses that port or pick another web_listen_addr',
          err,
        ),
      ),
    );
    server.listen(listen.port, listen.host, () => resolve());
  });
  const a = server.address() as AddressInfo;
  let closing: Promise<void> | undefined;
  const stop = () => (closing ??= new Promise<void>((resolve) => server.close(() => resolve())));
  return {
    address: { host: a.address, port: a.port },
    listening: () => server.listening,
    setTls: (t) => server.setSecureContext({ cert: t.cert, key: t.key, minVersion: 'TLSv1.2' }),
    stopAccepting: () => void stop(),
    close: async () => {
      clearTimeout(dropWindow);
      clearTimeout(perSourceWindow);
      terminal?.close();
      const closed = stop();
      server.closeAllConnections();
      await closed;
    },
  };
}
