import fs from 'node:fs';
import path from 'node:path';
import ssh2 from 'ssh2';
import type * as Ssh2 from 'ssh2';
import { parsePublicKeyLine } from '../../src/lib/ca/keys.js';
import { TARGET_ENV } from '../../src/lib/proxy-protocol.js';
// ssh2 speaks certificates through patches/ssh2+1.17.0.patch (applied to node_modules by npm ci).
import { createCertAgent } from '../../src/lib/ssh/index.js';
import { type AgentSource } from '../../src/lib/agent/index.js';

/**
 * What `tsh ssh` does on the wire (src/lib/client/ssh-session.ts), from inside the test process:
 * one ssh2 connection to the proxy authenticated with the tollgate certificate in a real
 * ssh-agent (forwarded, as the proxy needs), on which any number of session channels each name
 * their node with the TOLLGATE_TARGET env request before exec. Saves a node start-up and two
 * SSH handshakes per session when a test opens a hundred of them.
 */
export interface ProxyClientOptions {
  /** The proxy's SSH port on 127.0.0.1. */
  port: number;
  /** Tollgate user (the certificate's key id). */
  user: string;
  /** An ssh-agent holding the key and certificate (the cluster's, after tsh login). */
  agentSocket: string;
  /**
   * Where agent connections come from instead of `agentSocket` (both for logging in and for the
   * agent forwarded to the proxy): a factory lets a test watch or disturb the agent traffic.
   */
  agentSource?: AgentSource;
  /** The `*-cert.pub` file of the profile. */
  certFile: string;
  readyTimeoutMs?: number;
}

export interface ExecResult {
  stdout: Buffer;
  stderr: Buffer;
  /** Exit status, or null when the channel closed without one. */
  code: number | null;
  signal: string | null;
}

export interface ExecOptions {
  timeoutMs?: number;
  /** Called with each chunk of stdout as it arrives (e.g. to see that a session has started). */
  onData?: (chunk: Buffer) => void;
}

export interface ProxyConnection {
  client: Ssh2.Client;
  /** Runs `command` on `login@host:port` through the proxy on its own session channel. */
  exec(target: string, command: string, opts?: ExecOptions): Promise<ExecResult>;
  /** Ends the connection and waits (bounded) for it to close. */
  end(): Promise<void>;
}

/** The certificate file of the current profile in a tsh home (TELEPORT_HOME). */
export function profileCertFile(home: string): string {
  const name = fs.readFileSync(path.join(home, 'current-profile'), 'utf8').trim();
  const profile = JSON.parse(fs.readFileSync(path.join(home, `${name}.json`), 'utf8')) as { cert_file: string };
  return profile.cert_file;
}

/** Opens one authenticated connection to the proxy (host key not checked: loopback, test only). */
export async function connectProxy(o: ProxyClientOptions): Promise<ProxyConnection> {
  const certBlob = parsePublicKeyLine(fs.readFileSync(o.certFile, 'utf8')).blob;
  const client = new ssh2.Client();
  let closed = false;
  const closedP = new Promise<void>((resolve) => client.on('close', () => {
    closed = true;
    resolve();
  }));
  await new Promise<void>((resolve, reject) => {
    let settled = false;
    // A permanent listener: an unheard second 'error' would crash the test process.
    client.on('error', (err) => {
      if (!settled) {
        settled = true;
        reject(err);
      }
    });
    client.once('ready', () => {
      settled = true;
      resolve();
    });
    client.connect({
      host: '127.0.0.1',
      port: o.port,
      username: o.user,
      agent: createCertAgent(o.agentSource ?? o.agentSocket, { certBlob }),
      agentForward: true,
      readyTimeout: o.readyTimeoutMs ?? 30_000,
    });
  });

  const exec = (target: string, command: string, opts: ExecOptions = {}) =>
    new Promise<ExecResult>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`session ${target} ${JSON.stringify(command.slice(0, 40))} did not end in time`)), opts.timeoutMs ?? 60_000);
      client.exec(command, { env: { [TARGET_ENV]: target }, agentForward: true } as Ssh2.ExecOptions, (err, stream) => {
        if (err) {
          clearTimeout(timer);
          return reject(err);
        }
        const out: Buffer[] = [];
        const errOut: Buffer[] = [];
        let code: number | null = null;
        let signal: string | null = null;
        stream.on('data', (d: Buffer) => {
          out.push(d);
          opts.onData?.(d);
        });
        stream.stderr.on('data', (d: Buffer) => errOut.push(d));
        stream.on('exit', (c: number | null, s?: string) => {
          if (typeof c === 'number') code = c;
          else signal = s ?? null;
        });
        stream.on('close', () => {
          clearTimeout(timer);
          resolve({ stdout: Buffer.concat(out), stderr: Buffer.concat(errOut), code, signal });
        });
        stream.end();
      });
    });

  return {
    client,
    exec,
    end: async () => {
      if (!closed) client.end();
      await Promise.race([closedP, new Promise((r) => setTimeout(r, 5_000))]);
      if (!closed) client.destroy();
    },
  };
}
