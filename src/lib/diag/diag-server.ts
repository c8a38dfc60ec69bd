import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { formatHostPort, type HostPort } from '../address.js';
import { unavailable } from '../errors.js';
import type { Logger } from '../log.js';
import type { DaemonMetrics } from './metrics.js';
import { runChecks, type ReadinessCheck } from './readiness.js';

export interface DiagServer {
  address: HostPort;
  close(): Promise<void>;
}

export interface DiagOptions {
  metrics: DaemonMetrics;
  /** What /readyz asks; read at each request, so parts can come and go (draining). */
  checks(): readonly ReadinessCheck[];
  log: Logger;
  /** /metrics' body when it is more than this process's registry (the sum over SSH workers). */
  text?: () => Promise<string>;
}

/*
 * Plain HTTP, as Teleport's diag_addr: Prometheus and load balancers do not speak the proxy's
 * TLS, and nothing served here is secret (counts and yes/no answers). Bind it to loopback or a
 * management network.
 */

function send(res: http.ServerResponse, status: number, body: unknown, type = 'application/json'): void {
  const text = typeof body === 'string' ? body : `${JSON.stringify(body)}\n`;
  res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store' });
  res.end(text);
}

/** Serves /metrics, /healthz and /readyz on `listen`. */
export async function startDiagServer(listen: HostPort, o: DiagOptions): Promise<DiagServer> {
  const log = o.log.child({ component: 'diag' });
  const server = http.createServer((req, res) => {
    const url = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(res, 405, { error: 'only GET' });
    const handle = async () => {
      switch (url) {
        case '/metrics':
          return send(res, 200, o.text ? await o.text() : await o.metrics.registry.metrics(), o.metrics.registry.contentType);
        case '/healthz':
          // Alive: this process answers. Whether it can do its job is /readyz.
          return send(res, 200, { status: 'ok' });
        case '/readyz': {
          const r = await runChecks(o.checks());
          const failing = Object.entries(r.checks).filter(([, v]) => v !== 'ok');
          if (!r.ready) log.warn('not ready', { failing: failing.map(([k, v]) => `${k}: ${v}`).join('; ') });
          return send(res, r.ready ? 200 : 503, r.ready ? { status: 'ok', checks: r.checks } : { status: 'unavailable', error: failing.map(([k, v]) => `${k}: ${v}`).join('; '), checks: r.checks });
        }
        default:
          return send(res, 404, { error: 'not found; this address serves /metrics, /healthz and /readyz' });
      }
    };
    handle().catch((err: Error) => {
      log.error('diag request failed', { path: url, error: err.message });
      if (!res.headersSent) send(res, 500, { error: err.message });
    });
  });
  server.keepAliveTimeout = 65_000; // longer than Prometheus' scrape interval, so scrapes reuse the connection
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) =>
      reject(unavailable(`cannot listen on ${formatHostPort(listen)} (teleport.diag_addr): ${err.code === 'EADDRINUSE' ? 'address already in use' : err.message}`, 'stop whatever uses that port or pick another diag_addr', err)),
    );
    server.listen(listen.port, listen.host, () => resolve());
  });
  server.on('error', (err: Error) => log.error('diag listener error', { error: err.message }));
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
