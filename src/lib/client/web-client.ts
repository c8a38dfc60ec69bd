import https from 'node:https';
import { formatHostPort, type HostPort } from '../config/address.js';
import { TollgateError, unavailable, type ErrorKind } from '../errors.js';

const TLS_TRUST_ERRORS = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'UNABLE_TO_GET_ISSUER_CERT',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

export interface PingResponse {
  cluster_name: string;
  server_version: string;
  auth: { type: string; second_factor: 'off' | 'otp' };
  proxy: { ssh: { listen_addr: string; public_addr?: string } };
  host_ca: string;
  /** The recording key as an `allowed_signers` line (absent from older proxies). */
  recording_signers?: string;
}

export interface CertsResponse {
  user: string;
  logins: string[];
  cert: string;
  host_ca: string;
  valid_before: string;
  token: string;
  token_expires: string;
}

/** tsh's HTTPS client for the proxy's web API. TLS is verified unless --insecure. */
export class WebClient {
  constructor(
    readonly proxy: HostPort,
    private readonly insecure: boolean,
    private readonly bearer?: string,
  ) {}

  get baseUrl(): string {
    return `https://${formatHostPort(this.proxy)}`;
  }

  request<T>(method: 'GET' | 'POST' | 'DELETE', path: string, body?: unknown): Promise<T> {
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    const where = formatHostPort(this.proxy);
    return new Promise<T>((resolve, reject) => {
      const req = https.request(
        {
          host: this.proxy.host,
          port: this.proxy.port,
          method,
          path,
          rejectUnauthorized: !this.insecure,
          servername: /^[\d.]+$|:/.test(this.proxy.host) ? undefined : this.proxy.host,
          timeout: 15_000,
          headers: {
            accept: 'application/json',
            ...(payload ? { 'content-type': 'application/json', 'content-length': payload.length } : {}),
            ...(this.bearer ? { authorization: `Bearer ${this.bearer}` } : {}),
          },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            let json: unknown;
            try {
              json = JSON.parse(Buffer.concat(chunks).toString('utf8'));
            } catch {
              reject(unavailable(`${where} did not answer like a tollgate proxy (HTTP ${res.statusCode})`, 'check the --proxy address and port'));
              return;
            }
            const status = res.statusCode ?? 500;
            if (status >= 400) {
              const e = (json as { error?: { kind?: ErrorKind; message?: string; hint?: string } }).error;
              reject(new TollgateError(e?.kind ?? 'internal', e?.message ?? `the proxy answered HTTP ${status}`, { hint: e?.hint }));
              return;
            }
            resolve(json as T);
          });
        },
      );
      req.on('timeout', () => req.destroy(Object.assign(new Error('timed out'), { code: 'ETIMEDOUT' })));
      req.on('error', (err: NodeJS.ErrnoException) => {
        if (err.code && TLS_TRUST_ERRORS.has(err.code)) {
          reject(
            new TollgateError('access-denied', `the proxy's TLS certificate is not trusted (${err.message})`, {
              hint: 'give the proxy a trusted certificate (https_cert_file), or pass --insecure only if you are testing',
              cause: err,
            }),
          );
        } else if (err.code === 'ECONNREFUSED' || err.code === 'ENOTFOUND' || err.code === 'EHOSTUNREACH' || err.code === 'ETIMEDOUT' || err.code === 'EAI_AGAIN') {
          reject(unavailable(`cannot reach the proxy at ${where} (${err.code})`, 'check the --proxy address and that the proxy is running', err));
        } else {
          reject(unavailable(`cannot talk to the proxy at ${where}: ${err.message}`, 'check the --proxy address; is it a tollgate proxy?', err));
        }
      });
      if (payload) req.write(payload);
      req.end();
    });
  }

  /** GET a large body as a stream (recordings), with the same error handling as request(). */
  stream(path: string): Promise<import('node:http').IncomingMessage> {
    return new Promise((resolve, reject) => {
      const req = https.request(
        {
          host: this.proxy.host,
          port: this.proxy.port,
          method: 'GET',
          path,
          rejectUnauthorized: !this.insecure,
          timeout: 15_000,
          headers: this.bearer ? { authorization: `Bearer ${this.bearer}` } : {},
        },
        (res) => {
          if ((res.statusCode ?? 500) < 400) return resolve(res);
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            let e: { kind?: ErrorKind; message?: string; hint?: string } | undefined;
            try {
              e = (JSON.parse(Buffer.concat(chunks).toString('utf8')) as { error?: typeof e }).error;
            } catch {
              e = undefined;
            }
            reject(new TollgateError(e?.kind ?? 'internal', e?.message ?? `the proxy answered HTTP ${res.statusCode}`, { hint: e?.hint }));
          });
        },
      );
      req.on('timeout', () => req.destroy(new Error('timed out')));
      req.on('error', (err) => reject(unavailable(`cannot reach the proxy at ${formatHostPort(this.proxy)}: ${err.message}`)));
      req.end();
    });
  }

  ping(): Promise<PingResponse> {
    return this.request<PingResponse>('GET', '/webapi/ping');
  }
}
