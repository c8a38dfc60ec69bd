import fs from 'node:fs';
import ssh2 from 'ssh2';
import type * as Ssh2 from 'ssh2';
import { parsePublicKeyLine } from '../src/lib/ca/keys.js';
import { ProfileStore } from '../src/lib/profile/profile.js';
import { proxyHostKeyOptions } from '../src/lib/ssh-client/proxy-host-key.js';
import { parseHostPort } from '../src/lib/address.js';
import { TARGET_ENV } from '../src/lib/proxy-protocol.js';
import { createCertAgent } from '../src/lib/ssh/index.js';

/** What every load session runs on the node: it prints at once, then idles or streams text. */
export const LOAD_COMMANDS = {
  // Waits on its pty; ends when the pty hangs up. `timeout` bounds it if anything is left behind.
  idle: 'echo tollgate-ready; exec timeout 900 cat > /dev/null',
  // ~64 KiB/s of text in 16 KiB writes every 0.25 s from one process (no fork per write: 100 shell
  // loops forking yes/head/sleep would load the 2-core node more than the proxy under test).
  streaming: `exec perl -e '$| = 1; my $s = "tollgate-streaming-text\\n" x 683; for (1 .. 3600) { print $s; select(undef, undef, undef, 0.25) }'`,
} as const;

interface LoadSession {
  client: ssh2.Client;
  closed: Promise<void>;
}

/**
 * Many concurrent recorded sessions from this one process, opened the way `tsh ssh` opens one
 * (src/lib/client/ssh-session.ts): one SSH connection to the proxy per session, authenticated
 * with the tollgate certificate from the ssh-agent, the proxy's host certificate checked against
 * the profile's host CA, agent forwarding requested, and the node named in TOLLGATE_TARGET.
 * The proxy then dials the node with its own SSH connection per session, as in production.
 */
export class SessionLoad {
  private readonly sessions = new Set<LoadSession>();
  /** Every client not yet closed, whether its session started or not. */
  private readonly clients = new Set<ssh2.Client>();
  private pending = 0;
  private closing = false;
  /** Bytes received from the node over all sessions. */
  bytes = 0;
  /** Sessions that closed before `close()` was called. */
  lost = 0;
  readonly failures: string[] = [];

  constructor(
    private readonly o: {
      /** tsh profile directory (TELEPORT_HOME) after `tsh login`. */
      home: string;
      agentSocket: string;
      /** `login@host:port`, as tsh sends it. */
      target: string;
      command: string;
      concurrency?: number;
    },
  ) {}

  get count(): number {
    return this.sessions.size;
  }

  /** Opens sessions (a few at a time) until `count` are up or `deadline` (epoch ms) passes. */
  async open(count: number, deadline: number): Promise<void> {
    const worker = async () => {
      while (this.sessions.size + this.pending < count && Date.now() < deadline) {
        this.pending++;
        try {
          this.sessions.add(await this.openOne(deadline));
        } catch (err) {
          this.failures.push((err as Error).message);
          await new Promise((r) => setTimeout(r, 200));
        } finally {
          this.pending--;
        }
      }
    };
    await Promise.all(Array.from({ length: this.o.concurrency ?? 6 }, worker));
  }

  /** Ends every connection (the node's pty hangs up, so its command exits) and waits for each to close. */
  async close(): Promise<void> {
    this.closing = true;
    const all = [...this.clients];
    const closes = [...this.sessions].map((s) => s.closed);
    this.sessions.clear();
    for (const client of all) client.end();
    const timeout = new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), 10_000).unref());
    if ((await Promise.race([Promise.all(closes), timeout])) === 'timeout') for (const client of all) client.destroy();
    this.clients.clear();
  }

  /** One session, resolved once its first output arrives from the node (so it is recorded and live). */
  private openOne(deadline: number): Promise<LoadSession> {
    const store = new ProfileStore(this.o.home);
    const profile = store.current();
    const certBlob = parsePublicKeyLine(fs.readFileSync(profile.cert_file, 'utf8')).blob;
    const proxy = parseHostPort(profile.ssh_proxy_addr, 3023);
    if (typeof proxy === 'string') throw new Error(proxy);
    const client = new ssh2.Client();
    this.clients.add(client);
    let settled = false;
    let markClosed!: () => void;
    const session: LoadSession = { client, closed: new Promise<void>((r) => (markClosed = r)) };
    return new Promise<LoadSession>((resolve, reject) => {
      const fail = (err: Error) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        client.destroy();
        reject(err);
      };
      const timer = setTimeout(() => fail(new Error('session did not start in time')), Math.max(1_000, Math.min(30_000, deadline - Date.now())));
      client.on('error', (err) => fail(err));
      client.on('close', () => {
        markClosed();
        this.clients.delete(client);
        if (this.sessions.delete(session) && !this.closing) this.lost++;
        fail(new Error('connection closed before the session started'));
      });
      client.once('ready', () => {
        const env = { [TARGET_ENV]: this.o.target };
        const pty = { rows: 24, cols: 80, height: 0, width: 0, term: 'xterm-256color' };
        client.exec(this.o.command, { env, pty, agentForward: true } as Ssh2.ExecOptions, (err, stream) => {
          if (err) return fail(err);
          let stderr = '';
          stream.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
          stream.on('close', () => fail(new Error(`session ended before it started: ${stderr.trim() || 'no message'}`)));
          stream.on('data', (d: Buffer) => {
            this.bytes += d.length;
            if (settled) return;
            settled = true;
            clearTimeout(timer);
            resolve(session);
          });
        });
      });
      client.connect({
        host: proxy.host,
        port: proxy.port,
        username: profile.user,
        agent: createCertAgent(this.o.agentSocket, { certBlob }),
        agentForward: true,
        readyTimeout: 20_000,
        ...proxyHostKeyOptions(store, profile).options(proxy.host),
      });
    });
  }
}
