import type { IncomingMessage } from 'node:http';
import type { Duplex, Writable } from 'node:stream';
import { Duplex as DuplexStream, Writable as WritableStream } from 'node:stream';
import { WebSocketServer, type RawData, type WebSocket } from 'ws';
import { AuditEvents } from '../audit/index.js';
import type { AuthService, LoginService } from '../auth/index.js';
import type { Logger } from '../log.js';
import { CSRF_COOKIE, csrfMatches, SESSION_COOKIE } from './web-session.js';

/** The client side of a session as the proxy's pipeline relays it (its ClientChannel). */
export interface TerminalChannel extends Duplex {
  readonly stderr: Writable;
  exit(status: number): void;
  exit(signalName: string, coreDumped: boolean, errorMessage: string): void;
}

/**
 * What the web part uses of the proxy to open a browser terminal (injected by runtime.ts: web
 * does not import proxy). The proxy authorizes, mints the per-session certificate, records.
 */
export interface WebTerminals {
  open(
    req: { user: string; logins: readonly string[]; validUntil: Date; issuedAt: Date; clientAddr: string; node: string; login: string; cols: number; rows: number },
    channel: TerminalChannel,
  ): { resize(cols: number, rows: number): void };
}

export const TERMINAL_PATH = '/webapi/terminal';
/** A keystroke or paste from the browser; larger frames close the socket (ws maxPayload). */
const MAX_FRAME_BYTES = 64 * 1024;
/** Pings keep an idle terminal's connection open through proxies and find dead browsers. */
const PING_MS = 30_000;
/** The expiry disconnect_expired_cert applies to a browser terminal: a web session's default lifetime. */
const WEB_IDENTITY_MS = 12 * 3_600_000;

const clamp = (v: unknown, lo: number, hi: number, dflt: number) => {
  const n = Number(v);
  return Number.isInteger(n) ? Math.min(hi, Math.max(lo, n)) : dflt;
};

function cookies(header: string | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of (header ?? '').split(';')) {
    const i = part.indexOf('=');
    if (i > 0) out[part.slice(0, i).trim()] = decodeURIComponent(part.slice(i + 1).trim());
  }
  return out;
}

/**
 * The WebSocket's side of a session channel: the browser's binary frames are the client's input,
 * what the relay writes goes out as binary frames (a write completes when ws has sent it, so a
 * slow browser pushes back on the node), exit status as a JSON text frame.
 */
class SocketChannel extends DuplexStream implements TerminalChannel {
  /** The terminal shows stderr as it shows stdout (a PTY session has only one stream anyway). */
  readonly stderr: Writable;
  constructor(private readonly ws: WebSocket) {
    super({ allowHalfOpen: false });
    this.stderr = new WritableStream({ write: (chunk: Buffer, _enc, cb) => this.send(chunk, cb) });
  }
  private send(chunk: Buffer, cb: (err?: Error | null) => void): void {
    if (this.ws.readyState === this.ws.OPEN) this.ws.send(chunk, { binary: true }, (err) => cb(err ?? null));
    else cb();
  }
  override _read(): void {}
  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    this.send(chunk, cb);
  }
  override _final(cb: (err?: Error | null) => void): void {
    if (this.ws.readyState === this.ws.OPEN) this.ws.close(1000, 'session ended');
    cb();
  }
  exit(status: number | string): void {
    if (this.ws.readyState === this.ws.OPEN) this.ws.send(JSON.stringify(typeof status === 'number' ? { type: 'exit', status } : { type: 'exit', signal: status }));
  }
}

/**
 * Upgrades `GET /webapi/terminal?node=&login=&cols=&rows=&csrf=` to a WebSocket terminal. A
 * browser sends cookies with a cross-site WebSocket (SameSite does not cover every case, and
 * WebSockets have no CORS), so three checks: the session cookie, the CSRF token in the URL equal
 * to the CSRF cookie (a page of ours put it there), and an Origin equal to this server's.
 */
export function createTerminalUpgrade(o: { login: LoginService; auth: AuthService; terminals: WebTerminals; log: Logger }) {
  const wss = new WebSocketServer({ noServer: true, maxPayload: MAX_FRAME_BYTES, perMessageDeflate: false });
  const refuse = (socket: Duplex, status: number, text: string) => {
    socket.end(`HTTP/1.1 ${status} ${text}\r\nconnection: close\r\ncontent-length: 0\r\n\r\n`);
  };
  return {
    /** Handles the server's 'upgrade' event; false when the path is not the terminal's. */
    handle(req: IncomingMessage, socket: Duplex, head: Buffer): boolean {
      const url = new URL(req.url ?? '/', 'https://x');
      if (url.pathname !== TERMINAL_PATH) return false;
      void (async () => {
        const addr = req.socket.remoteAddress ?? 'unknown';
        const jar = cookies(req.headers.cookie);
        const origin = req.headers.origin;
        const host = req.headers.host;
        const token = jar[SESSION_COOKIE];
        const user = token ? await o.login.userForToken(token).catch(() => undefined) : undefined;
        const why = !user
          ? 'no valid session cookie'
          : !origin || !host || origin !== `https://${host}`
            ? 'origin mismatch'
            : !csrfMatches(jar[CSRF_COOKIE], url.searchParams.get('csrf') ?? '')
              ? 'CSRF token mismatch'
              : undefined;
        if (why || !user) {
          o.log.info('refused a web terminal', { component: 'web', addr, reason: why });
          // A known user's cookie with a wrong token or Origin is someone else's page trying it:
          // audited. Anonymous attempts are only logged (they would let anyone fill the audit log).
          if (user) await o.auth.audit(AuditEvents.sessionRejected, user.name, { reason: `web terminal: ${why}`, addr, client: 'web' }).catch(() => undefined);
          return refuse(socket, why === 'no valid session cookie' ? 401 : 403, 'Forbidden');
        }
        wss.handleUpgrade(req, socket, head, (ws) => {
          (socket as { setTimeout?: (ms: number) => void }).setTimeout?.(0);
          const channel = new SocketChannel(ws);
          let controls: { resize(cols: number, rows: number): void } | undefined;
          const ping = setInterval(() => ws.ping(), PING_MS).unref();
          ws.on('message', (data: RawData, isBinary: boolean) => {
            const buf = Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data as Buffer);
            if (isBinary) {
              channel.push(buf);
              return;
            }
            try {
              const msg = JSON.parse(buf.toString('utf8')) as { type?: string; cols?: unknown; rows?: unknown };
              if (msg.type === 'resize') controls?.resize(clamp(msg.cols, 1, 1000, 80), clamp(msg.rows, 1, 1000, 24));
            } catch {
              // not a control message: ignored
            }
          });
          ws.on('close', () => {
            clearInterval(ping);
            // The browser went away: the client side of the session ends, as a closed SSH channel would.
            channel.push(null);
            channel.destroy();
          });
          ws.on('error', (err) => o.log.debug('web terminal socket error', { component: 'web', error: err.message }));
          try {
            controls = o.terminals.open(
            {
              user: user.name,
              logins: user.logins,
              validUntil: new Date(Date.now() + WEB_IDENTITY_MS),
              issuedAt: new Date(),
              clientAddr: addr,
              node: url.searchParams.get('node') ?? '',
              login: url.searchParams.get('login') ?? '',
              cols: clamp(url.searchParams.get('cols'), 1, 1000, 80),
              rows: clamp(url.searchParams.get('rows'), 1, 1000, 24),
            },
              channel,
            );
          } catch (err) {
            ws.close(1011, (err as Error).message.slice(0, 120));
          }
        });
      })().catch((err: Error) => {
        o.log.error('web terminal upgrade failed', { component: 'web', error: err.message });
        refuse(socket, 500, 'Internal Server Error');
      });
      return true;
    },
    close(): void {
      for (const ws of wss.clients) ws.terminate();
      wss.close();
    },
  };
}
