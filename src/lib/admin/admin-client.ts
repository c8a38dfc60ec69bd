import http from 'node:http';
import { kindForHttpStatus, TollgateError, unavailable, type ErrorKind } from '../errors.js';

/** tctl's side of the admin API: JSON over the daemon's Unix socket. */
export class AdminClient {
  constructor(readonly socketPath: string) {}

  request<T>(method: 'GET' | 'POST' | 'DELETE', path: string, body?: unknown): Promise<T> {
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    return new Promise<T>((resolve, reject) => {
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
            const text = Buffer.concat(chunks).toString('utf8');
            let json: unknown;
            try {
              json = JSON.parse(text);
            } catch {
              reject(new TollgateError('internal', `the auth service sent an unreadable reply (HTTP ${res.statusCode})`));
              return;
            }
            if ((res.statusCode ?? 500) >= 400) {
              const e = (json as { error?: { kind?: ErrorKind; message?: string; hint?: string } }).error;
              reject(new TollgateError(e?.kind ?? kindForHttpStatus(res.statusCode ?? 500), e?.message ?? `HTTP ${res.statusCode}`, { hint: e?.hint }));
              return;
            }
            resolve(json as T);
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
