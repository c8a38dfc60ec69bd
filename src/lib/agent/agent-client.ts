import type { KeyObject } from 'node:crypto';
import { rawEd25519Public } from '../ca/index.js';
import { TollgateError } from '../errors.js';
import { WireReader, WireWriter } from '../wire/index.js';

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
import { withAgent, type AgentKey, type AgentReply } from './agent-stream.js';
import {
  SSH_AGENT_CONSTRAIN_LIFETIME,
  SSH_AGENT_FAILURE,
  SSH_AGENT_SUCCESS,
  SSH_AGENTC_ADD_ID_CONSTRAINED,
  SSH_AGENTC_ADD_IDENTITY,
  SSH_AGENTC_REMOVE_IDENTITY,
} from './protocol.js';

/** An identity the agent holds (the same shape AgentStream.listKeys returns). */
export type AgentIdentity = AgentKey;

/**
 * The user's ssh-agent at a socket path, for what tsh manages there (list, add a certificate
 * with a lifetime, remove). Each call is one connection speaking through AgentStream, the one
 * implementation of the protocol's framing, so tsh and the proxy share its limits and errors.
 */
export class AgentClient {
  constructor(readonly socketPath: string) {}

  /** The agent at $SSH_AUTH_SOCK, or undefined when none is set. */
  static fromEnv(env: NodeJS.ProcessEnv = process.env): AgentClient | undefined {
    return env.SSH_AUTH_SOCK ? new AgentClient(env.SSH_AUTH_SOCK) : undefined;
  }

  /** One request, one reply, on its own connection (agents handle each connection in turn). */
  private request(type: number, payload: Buffer): Promise<AgentReply> {
    return withAgent(this.socketPath, (agent) => agent.request(type, payload));
  }

  list(): Promise<AgentIdentity[]> {
    return withAgent(this.socketPath, (agent) => agent.listKeys());
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
