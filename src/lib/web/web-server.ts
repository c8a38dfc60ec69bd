import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { getRequestListener } from '@hono/node-server';
import { formatHostPort, type HostPort } from '../config/address.js';
import { unavailable } from '../errors.js';
import type { Logger } from '../log.js';
import type { TlsMaterial } from './tls.js';
import { createWebApp, type WebAppOptions } from './web-app.js';

export interface WebServer {
  /** The bound address (the real port when the config said 0). */
  address: HostPort;
  close(): Promise<void>;
}

/** Serves the web app over HTTPS on `listen`; timeouts bound slow or idle clients. */
export async function startWebServer(listen: HostPort, tls: TlsMaterial, o: WebAppOptions & { log: Logger }): Promise<WebServer> {
  const app = createWebApp(o);
  const server = https.createServer(
    {
      cert: tls.cert,
      key: tls.key,
      minVersion: 'TLSv1.2',
      requestTimeout: 30_000,
      headersTimeout: 10_000,
      keepAliveTimeout: 5_000,
      maxHeaderSize: 16 * 1024,
    },
    getRequestListener(app.fetch),
  );
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
  return {
    address: { host: a.address, port: a.port },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
