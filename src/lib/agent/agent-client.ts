import net from 'node:net';
import type { KeyObject } from 'node:crypto';
import { rawEd25519Public } from '../ca/keys.js';
import { TollgateError, unavailable } from '../errors.js';
import { WireReader, WireWriter } from '../ssh/wire.js';

/*
 * ssh-agent protocol client (draft-miller-ssh-agent), the messages tsh needs:
 *   frame                 uint32 length || byte type || payload
 *   11 REQUEST_IDENTITIES → 12 IDENTITIES_ANSWER: uint32 nkeys, (string key_blob, string comment)*
 *   17 ADD_IDENTITY       string "ssh-ed25519-cert-v01@openssh.com" || string cert_blob
 *                         || string ENC(A) (32-byte public) || string k||ENC(A) (64 bytes) || string comment
 *   25 ADD_ID_CONSTRAINED the same, then constraints: byte 1 (SSH_AGENT_CONSTRAIN_LIFETIME) || uint32 seconds
 *   18 REMOVE_IDENTITY    string key_blob (the certificate blob for a certificate)
 *   replies               6 SUCCESS, 5 FAILURE
 */
import {
  MAX_AGENT_MESSAGE as MAX_REPLY,
  SSH_AGENT_CONSTRAIN_LIFETIME,
  SSH_AGENT_FAILURE,
  SSH_AGENT_IDENTITIES_ANSWER,
  SSH_AGENT_SUCCESS,
  SSH_AGENTC_ADD_ID_CONSTRAINED,
  SSH_AGENTC_ADD_IDENTITY,
  SSH_AGENTC_REMOVE_IDENTITY,
  SSH_AGENTC_REQUEST_IDENTITIES,
} from './protocol.js';

export interface AgentIdentity {
  blob: Buffer;
  comment: string;
  /** Key type from the blob, e.g. `ssh-ed25519-cert-v01@openssh.com`. */
  type: string;
}

export class AgentClient {
  constructor(readonly socketPath: string) {}

  /** The agent at $SSH_AUTH_SOCK, or undefined when none is set. */
  static fromEnv(env: NodeJS.ProcessEnv = process.env): AgentClient | undefined {
    return env.SSH_AUTH_SOCK ? new AgentClient(env.SSH_AUTH_SOCK) : undefined;
  }

  /** One request, one reply, on its own connection (agents handle each connection in turn). */
  private request(type: number, payload: Buffer): Promise<{ type: number; body: Buffer }> {
    return new Promise((resolve, reject) => {
      const sock = net.connect(this.socketPath);
      const chunks: Buffer[] = [];
      let size = 0;
      const fail = (err: Error) => {
        sock.destroy();
        reject(err);
      };
      sock.setTimeout(10_000, () => fail(unavailable(`the ssh-agent at ${this.socketPath} did not answer`)));
      sock.on('error', (err: NodeJS.ErrnoException) =>
        fail(unavailable(`cannot reach the ssh-agent at ${this.socketPath}: ${err.code ?? err.message}`, 'start one with: eval "$(ssh-agent)"', err)),
      );
      sock.on('connect', () => {
        const head = Buffer.alloc(5);
        head.writeUInt32BE(payload.length + 1);
        head[4] = type;
        sock.write(Buffer.concat([head, payload]));
      });
      sock.on('data', (d: Buffer) => {
        chunks.push(d);
        size += d.length;
        const all = Buffer.concat(chunks);
        if (all.length < 4) return;
        const len = all.readUInt32BE(0);
        if (len > MAX_REPLY || len === 0) return fail(new TollgateError('internal', 'the ssh-agent sent a malformed reply'));
        if (size < 4 + len) return;
        sock.end();
        resolve({ type: all[4]!, body: all.subarray(5, 4 + len) });
      });
      sock.on('end', () => {
        if (size === 0) fail(new TollgateError('internal', 'the ssh-agent closed the connection without answering'));
      });
    });
  }

  async list(): Promise<AgentIdentity[]> {
    const r = await this.request(SSH_AGENTC_REQUEST_IDENTITIES, Buffer.alloc(0));
    if (r.type !== SSH_AGENT_IDENTITIES_ANSWER) throw new TollgateError('internal', `the ssh-agent refused to list keys (reply ${r.type})`);
    const rd = new WireReader(r.body, 'ssh-agent identities');
    const n = rd.uint32();
    const out: AgentIdentity[] = [];
    for (let i = 0; i < n; i++) {
      const blob = rd.string();
      const comment = rd.text();
      out.push({ blob, comment, type: new WireReader(blob).text() });
    }
    return out;
  }

  /**
   * Adds an ed25519 key with its certificate. With `lifetimeSeconds` the agent forgets it by itself
   * at that time (the certificate's expiry), so a stale credential never lingers.
   */
  async addCertificate(privateKey: KeyObject, certBlob: Buffer, comment: string, lifetimeSeconds?: number): Promise<void> {
    const jwk = privateKey.export({ format: 'jwk' });
    if (jwk.crv !== 'Ed25519' || !jwk.d) throw new TollgateError('bad-parameter', 'only ed25519 keys can be added');
    const seed = Buffer.from(jwk.d, 'base64url');
    const pub = rawEd25519Public(privateKey);
    const w = new WireWriter()
      .string(new WireReader(certBlob).text())
      .string(certBlob)
      .string(pub)
      .string(Buffer.concat([seed, pub]))
      .string(comment);
    const constrained = lifetimeSeconds !== undefined;
    if (constrained) w.uint8(SSH_AGENT_CONSTRAIN_LIFETIME).uint32(Math.max(1, Math.floor(lifetimeSeconds)));
    const r = await this.request(constrained ? SSH_AGENTC_ADD_ID_CONSTRAINED : SSH_AGENTC_ADD_IDENTITY, w.toBuffer());
    if (r.type !== SSH_AGENT_SUCCESS) throw new TollgateError('unavailable', 'the ssh-agent refused the key', { hint: 'is it locked (ssh-add -X)?' });
  }

  /** Removes one identity by its blob; false when the agent did not hold it. */
  async remove(blob: Buffer): Promise<boolean> {
    const r = await this.request(SSH_AGENTC_REMOVE_IDENTITY, new WireWriter().string(blob).toBuffer());
    if (r.type === SSH_AGENT_SUCCESS) return true;
    if (r.type === SSH_AGENT_FAILURE) return false;
    throw new TollgateError('internal', `unexpected ssh-agent reply ${r.type}`);
  }
}
