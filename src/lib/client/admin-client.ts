import http from 'node:http';
import { kindForHttpStatus, TollgateError, unavailable } from '../errors.js';
import { decodeReply, errorFromReply, routePath, type JsonRoute, type RouteArgs, type RouteOutput } from '../api/index.js';

/** tctl's side of the admin API (routes.ts): JSON over the daemon's Unix socket. */
export class AdminClient {
  constructor(readonly socketPath: string) {}

  /** Calls one admin route; the answer is validated against the route's response schema. */
  async call<R extends JsonRoute>(route: R, ...[input]: RouteArgs<R>): Promise<RouteOutput<R>> {
    const i = (input ?? {}) as { params?: Record<string, unknown>; query?: Record<string, unknown>; body?: unknown };
    const { status, json } = await this.send(route.method, routePath(route, i), i.body);
    if (status >= 400) throw errorFromReply(json, { kind: kindForHttpStatus(status), message: `HTTP ${status}` });
    return decodeReply(route, json, 'the auth service', { kind: 'internal', hint: 'is tctl the same version as the daemon?' });
  }

  private send(method: string, path: string, body: unknown): Promise<{ status: number; json: unknown }> {
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    return new Promise((resolve, reject) => {
      const req = http.request(
        {
          socketPath: this.socketPath,
          method,
          path,
          headers: payload ? { 'content-type': 'application/json', 'content-length': payload.length } : {},
          timeout: 30_000,
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            const status = res.statusCode ?? 500;
            try {
              resolve({ status, json: JSON.parse(Buffer.concat(chunks).toString('utf8')) });
            } catch {
              reject(new TollgateError('internal', `the auth service sent an unreadable reply (HTTP ${status})`));
            }
          });
        },
      );
      req.on('timeout', () => req.destroy(new Error('timed out')));
      req.on('error', (err: NodeJS.ErrnoException) => {
        if (err.code === 'ENOENT' || err.code === 'ECONNREFUSED') {
          reject(unavailable(`the auth service is not running (no daemon listening on ${this.socketPath})`, 'start it with "teleport start", or point tctl at its data dir with --data-dir or -c', err));
        } else if (err.code === 'EACCES') {
          reject(unavailable(`permission denied on ${this.socketPath}`, 'run tctl as the user that runs the daemon (usually root)', err));
        } else {
          reject(unavailable(`cannot reach the auth service on ${this.socketPath}: ${err.message}`, undefined, err));
        }
      });
      if (payload) req.write(payload);
      req.end();
    });
  }
}
