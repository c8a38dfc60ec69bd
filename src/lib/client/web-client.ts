import type { IncomingMessage } from 'node:http';
import https from 'node:https';
import tls from 'node:tls';
import { tlsPublicKeyPin } from '../tls-pin.js';
import { formatHostPort, type HostPort } from '../address.js';
import { TollgateError, unavailable } from '../errors.js';
import { decodeReply, errorFromReply, routePath, type JsonRoute, type RawRoute, type RouteArgs, type RouteOutput, webApiRoutes } from '../api/index.js';

export type { CertsResponse, PingResponse } from '../api/index.js';

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

const NOT_A_PROXY_HINT = 'check the --proxy address and port';

type CallInput = { params?: Record<string, unknown>; query?: Record<string, unknown>; body?: unknown };

/** What a proxy's TLS handshake showed, before anything is sent: its key's pin and whether the chain and name verify. */
export interface TlsProbe {
  pin: string;
  /** The certificate chains to a trusted CA and names the host dialled. */
  verified: boolean;
  /** Why not, when not (OpenSSL's reason). */
  reason?: string;
}

/** tsh's HTTPS client for the proxy's web API (web/api-routes.ts). TLS is verified unless --insecure. */
export class WebClient {
  constructor(
    readonly proxy: HostPort,
    private readonly insecure: boolean,
    private readonly bearer?: string,
    /**
     * `sha256:HEX` of the proxy's TLS public key: checked on the connection before anything is
     * sent on it, instead of (not besides) the usual chain check (a self-signed proxy's join).
     */
    private readonly pin?: string,
    /** Said when the pin does not match: tsh's profile pins and join's --ca-pin need different advice. */
    private readonly pinMismatch: (got: string) => TollgateError = (got) =>
      new TollgateError('access-denied', `the proxy at ${formatHostPort(proxy)} is not the one the pin names (its key is ${got})`, {
        hint: 'check --proxy-server and --ca-pin (tctl tokens add prints both); someone may be intercepting the connection',
      }),
  ) {}

  get baseUrl(): string {
    return `https://${formatHostPort(this.proxy)}`;
  }

  /** Calls a JSON route; the answer is validated against the route's response schema. */
  async call<R extends JsonRoute>(route: R, ...[input]: RouteArgs<R>): Promise<RouteOutput<R>> {
    const i = (input ?? {}) as CallInput;
    const res = await this.send(route.method, routePath(route, i), i.body);
    const text = await readAll(res);
    const status = res.statusCode ?? 500;
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      throw unavailable(`${this.where} did not answer like a tollgate proxy (HTTP ${status})`, NOT_A_PROXY_HINT);
    }
    if (status >= 400) throw errorFromReply(json, { kind: 'internal', message: `the proxy answered HTTP ${status}` });
    return decodeReply(route, json, `the proxy at ${this.where}`, { kind: 'unavailable', hint: 'is --proxy a tollgate proxy of the same version as tsh?' });
  }

  /** Opens a raw route (a recording) as a stream, after checking its status and content type. */
  async open<R extends RawRoute>(route: R, ...[input]: RouteArgs<R>): Promise<IncomingMessage> {
    const i = (input ?? {}) as CallInput;
    const res = await this.send(route.method, routePath(route, i), i.body);
    const status = res.statusCode ?? 500;
    if (status >= 400) {
      let json: unknown;
      try {
        json = JSON.parse(await readAll(res));
      } catch {
        json = undefined;
      }
      throw errorFromReply(json, { kind: 'internal', message: `the proxy answered HTTP ${status}` });
    }
    const type = res.headers['content-type'] ?? '';
    if (!type.startsWith(route.response.rawContentType)) {
      res.destroy();
      throw unavailable(`${this.where} answered ${route.method} ${route.path} with ${type || 'no content type'}, not ${route.response.rawContentType}`, NOT_A_PROXY_HINT);
    }
    return res;
  }

  ping() {
    return this.call(webApiRoutes.ping);
  }

  /**
   * A handshake only: what key the proxy presents and whether its certificate verifies. tsh login
   * decides from this whether to pin, ask, or refuse before it sends anything (the password least of
   * all); the later requests check the pin again on their own connections.
   */
  static probe(proxy: HostPort): Promise<TlsProbe> {
    const client = new WebClient(proxy, false);
    return new Promise((resolve, reject) => {
      const socket = tls.connect({ host: proxy.host, port: proxy.port, servername: client.servername, rejectUnauthorized: false, timeout: 15_000 });
      socket.once('timeout', () => socket.destroy(Object.assign(new Error('timed out'), { code: 'ETIMEDOUT' })));
      socket.once('error', (err: NodeJS.ErrnoException) =>
        reject(unavailable(`cannot reach the proxy at ${client.where} (${err.code ?? err.message})`, 'check the --proxy address and that the proxy is running', err)),
      );
      socket.once('secureConnect', () => {
        const cert = socket.getPeerX509Certificate();
        const authError = socket.authorizationError ? String(socket.authorizationError) : undefined;
        // A chain that verifies still has to name the host dialled (tls.connect leaves that to us when not rejecting).
        const nameError = cert && !authError ? tls.checkServerIdentity(proxy.host, socket.getPeerCertificate()) : undefined;
        socket.destroy();
        if (!cert) return reject(unavailable(`the proxy at ${client.where} presented no TLS certificate`, NOT_A_PROXY_HINT));
        const reason = authError ?? nameError?.message;
        resolve({ pin: tlsPublicKeyPin(cert.raw), verified: !reason, ...(reason ? { reason } : {}) });
      });
    });
  }

  private get where(): string {
    return formatHostPort(this.proxy);
  }

  private get servername(): string | undefined {
    return /^[\d.]+$|:/.test(this.proxy.host) ? undefined : this.proxy.host;
  }

  /** A TLS connection whose server key matches the pin, or an access-denied error; nothing is sent before the check. */
  private connectPinned(pin: string): Promise<tls.TLSSocket> {
    return new Promise((resolve, reject) => {
      const socket = tls.connect({ host: this.proxy.host, port: this.proxy.port, servername: this.servername, rejectUnauthorized: false, timeout: 15_000 });
      socket.once('timeout', () => socket.destroy(Object.assign(new Error('timed out'), { code: 'ETIMEDOUT' })));
      socket.once('error', reject);
      socket.once('secureConnect', () => {
        const cert = socket.getPeerX509Certificate();
        const got = cert ? tlsPublicKeyPin(cert.raw) : 'none';
        if (got !== pin) {
          socket.destroy();
          return reject(this.pinMismatch(got));
        }
        socket.removeListener('error', reject);
        socket.setTimeout(0);
        resolve(socket);
      });
    });
  }

  private async send(method: string, path: string, body: unknown): Promise<IncomingMessage> {
    const pinned = this.pin ? await this.connectPinned(this.pin).catch((err: NodeJS.ErrnoException) => {
      if (err instanceof TollgateError) throw err;
      throw unavailable(`cannot reach the proxy at ${this.where} (${err.code ?? err.message})`, 'check the proxy address and that the proxy is running', err);
    }) : undefined;
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    const where = this.where;
    return new Promise((resolve, reject) => {
      const req = https.request(
        {
          host: this.proxy.host,
          port: this.proxy.port,
          method,
          path,
          ...(pinned ? { createConnection: () => pinned, agent: false } : {}),
          rejectUnauthorized: !this.insecure && !pinned,
          servername: this.servername,
          timeout: 15_000,
          headers: {
            accept: 'application/json',
            ...(payload ? { 'content-type': 'application/json', 'content-length': payload.length } : {}),
            ...(this.bearer ? { authorization: `Bearer ${this.bearer}` } : {}),
            // A connection of our own (pinned) is not pooled: without this the proxy keeps it open
            // for its keep-alive time and the process cannot exit until then.
            ...(pinned ? { connection: 'close' } : {}),
          },
        },
        (res) => {
          // Our own connection carries this one exchange; keeping it would hold the process open.
          if (pinned) res.once('close', () => pinned.destroy());
          resolve(res);
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
}

function readAll(res: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    res.on('data', (c: Buffer) => chunks.push(c));
    res.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    res.on('error', reject);
  });
}
