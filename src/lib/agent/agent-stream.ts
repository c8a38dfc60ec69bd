/*
 * A minimal ssh-agent protocol client over any Duplex (a unix socket to ssh-agent, or an ssh2
 * `auth-agent@openssh.com` channel). draft-miller-ssh-agent §3:
 *   frame                 uint32 length || byte type || payload
 *   11 REQUEST_IDENTITIES → 12 IDENTITIES_ANSWER: uint32 nkeys, (string key_blob, string comment)*
 *   13 SIGN_REQUEST       string key_blob || string data || uint32 flags
 *                       → 14 SIGN_RESPONSE: string signature (string format || string sig)
 *   5 FAILURE
 * Requests on one stream are answered in order, so they are serialized here.
 *
 * The one implementation of the protocol's framing: AgentClient (tsh's agent at a socket path)
 * and the proxy's CertAgent (a forwarded agent channel) both speak through it.
 */
import net from 'node:net';
import type { Duplex } from 'node:stream';
import { TollgateError, unavailable } from '../errors.js';
import { WireReader, WireWriter } from '../wire/index.js';

import {
  MAX_AGENT_MESSAGE as MAX_REPLY,
  SSH_AGENT_FAILURE,
  SSH_AGENT_IDENTITIES_ANSWER,
  SSH_AGENT_SIGN_RESPONSE,
  SSH_AGENTC_REQUEST_IDENTITIES,
  SSH_AGENTC_SIGN_REQUEST,
} from './protocol.js';
export { SSH_AGENT_FAILURE, SSH_AGENT_IDENTITIES_ANSWER, SSH_AGENT_SIGN_RESPONSE, SSH_AGENTC_REQUEST_IDENTITIES, SSH_AGENTC_SIGN_REQUEST };
const REQUEST_TIMEOUT_MS = 15_000;

/** Where agent connections come from: a socket path, a factory (one stream per use), or one shared stream. */
export type AgentSource = string | Duplex | (() => Duplex | Promise<Duplex>);

export interface AgentReply {
  type: number;
  body: Buffer;
}

export interface AgentKey {
  blob: Buffer;
  comment: string;
  /** The algorithm named at the start of the blob. */
  type: string;
}

interface Waiter {
  resolve(reply: AgentReply): void;
  reject(err: Error): void;
}

/** Speaks the agent protocol on one stream; requests are queued and answered in order. */
export class AgentStream {
  private buf: Buffer = Buffer.alloc(0);
  private readonly waiters: Waiter[] = [];
  private failure: Error | undefined;
  private tail: Promise<unknown> = Promise.resolve();

  constructor(readonly stream: Duplex) {
    stream.on('data', (d: Buffer) => this.onData(d));
    stream.on('error', (err: Error) => this.fail(unavailable(`ssh-agent connection failed: ${err.message}`, undefined, err)));
    stream.on('end', () => this.fail(unavailable('the ssh-agent closed the connection')));
    stream.on('close', () => this.fail(unavailable('the ssh-agent closed the connection')));
  }

  private fail(err: Error): void {
    this.failure ??= err;
    for (const w of this.waiters.splice(0)) w.reject(err);
  }

  private onData(d: Buffer): void {
    this.buf = this.buf.length === 0 ? d : Buffer.concat([this.buf, d]);
    while (this.buf.length >= 4) {
      const len = this.buf.readUInt32BE(0);
      if (len === 0 || len > MAX_REPLY) {
        this.fail(new TollgateError('internal', 'the ssh-agent sent a malformed reply'));
        this.stream.destroy();
        return;
      }
      if (this.buf.length < 4 + len) return;
      const reply = { type: this.buf[4]!, body: Buffer.from(this.buf.subarray(5, 4 + len)) };
      this.buf = this.buf.subarray(4 + len);
      const w = this.waiters.shift();
      if (!w) {
        this.fail(new TollgateError('internal', 'the ssh-agent sent an unexpected message'));
        return;
      }
      w.resolve(reply);
    }
  }

  /** Sends one request and waits for its reply. */
  request(type: number, payload: Buffer): Promise<AgentReply> {
    const run = () =>
      new Promise<AgentReply>((resolve, reject) => {
        if (this.failure) return reject(this.failure);
        const timer = setTimeout(() => {
          const err = unavailable('the ssh-agent did not answer');
          this.fail(err);
          reject(err);
        }, REQUEST_TIMEOUT_MS);
        this.waiters.push({
          resolve: (r) => {
            clearTimeout(timer);
            resolve(r);
          },
          reject: (e) => {
            clearTimeout(timer);
            reject(e);
          },
        });
        this.stream.write(new WireWriter().uint32(payload.length + 1).uint8(type).raw(payload).toBuffer());
      });
    const result = this.tail.then(run, run);
    this.tail = result.catch(() => undefined);
    return result;
  }

  async listKeys(): Promise<AgentKey[]> {
    const r = await this.request(SSH_AGENTC_REQUEST_IDENTITIES, Buffer.alloc(0));
    if (r.type !== SSH_AGENT_IDENTITIES_ANSWER) throw new TollgateError('internal', `the ssh-agent refused to list keys (reply ${r.type})`);
    const rd = new WireReader(r.body, 'ssh-agent identities');
    const n = rd.uint32();
    const out: AgentKey[] = [];
    for (let i = 0; i < n; i++) {
      const blob = Buffer.from(rd.string());
      const comment = rd.text();
      out.push({ blob, comment, type: new WireReader(blob, 'ssh-agent key').text() });
    }
    return out;
  }

  /** Asks the agent to sign; returns the SSH signature blob (string format || string sig). */
  async sign(keyBlob: Buffer, data: Buffer, flags = 0): Promise<Buffer> {
    const r = await this.request(SSH_AGENTC_SIGN_REQUEST, new WireWriter().string(keyBlob).string(data).uint32(flags).toBuffer());
    if (r.type === SSH_AGENT_FAILURE) throw new TollgateError('access-denied', 'the ssh-agent refused to sign', { hint: 'is the key still in the agent (ssh-add -l), or the agent locked?' });
    if (r.type !== SSH_AGENT_SIGN_RESPONSE) throw new TollgateError('internal', `unexpected ssh-agent reply ${r.type}`);
    const rd = new WireReader(r.body, 'ssh-agent signature');
    return Buffer.from(rd.string());
  }
}

/** Opens a stream for one use (for a shared Duplex source, the stream itself; `owned` is false then). */
export async function openAgentStream(source: AgentSource): Promise<{ stream: Duplex; owned: boolean }> {
  if (typeof source === 'string') {
    const sock = net.connect(source);
    await new Promise<void>((resolve, reject) => {
      sock.once('connect', resolve);
      sock.once('error', (err: NodeJS.ErrnoException) =>
        reject(unavailable(`cannot reach the ssh-agent at ${source}: ${err.code ?? err.message}`, 'start one with: eval "$(ssh-agent)"', err)),
      );
    });
    return { stream: sock, owned: true };
  }
  if (typeof source === 'function') return { stream: await source(), owned: true };
  return { stream: source, owned: false };
}

const shared = new WeakMap<Duplex, AgentStream>();

/** Runs `fn` with an agent connection from `source`, closing it afterwards when it was opened here. */
export async function withAgent<T>(source: AgentSource, fn: (agent: AgentStream) => Promise<T>): Promise<T> {
  const { stream, owned } = await openAgentStream(source);
  if (!owned) {
    let agent = shared.get(stream);
    if (!agent) shared.set(stream, (agent = new AgentStream(stream)));
    return fn(agent);
  }
  const agent = new AgentStream(stream);
  try {
    return await fn(agent);
  } finally {
    stream.destroy();
  }
}
