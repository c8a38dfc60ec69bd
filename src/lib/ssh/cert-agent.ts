/*
 * An ssh2 agent (BaseAgent) that offers OpenSSH certificates held in an ssh-agent.
 *
 * ssh2's own OpenSSHAgent (lib/agent.js AgentProtocol, SSH_AGENT_IDENTITIES_ANSWER) runs every
 * identity through keyParser.parseKey, which refuses certificate blobs, so certificates are
 * silently dropped and an ssh2 Client cannot log in where only certificates are trusted. This
 * agent lists identities itself, turns each ed25519 certificate into an ssh2 key object that
 * carries the certificate (cert-keys.ts certPublicKey) and, when ssh2 asks for a signature, has
 * the agent sign with the certificate blob as the key (OpenSSH's agent finds the private key
 * through the certificate). The signature is made under the plain algorithm; putting that name
 * in the USERAUTH_REQUEST is patches/ssh2+1.17.0.patch (Protocol.js authPK).
 *
 * Usage: new Client().connect({ host, username: 'root', agent: createCertAgent(process.env.SSH_AUTH_SOCK!) })
 */
import type * as Ssh2 from 'ssh2';
import { ED25519_CERT } from '../ca/index.js';
import { badParameter } from '../errors.js';
import { type AgentKey, type AgentSource, openAgentStream, withAgent } from '../agent/index.js';
import { certPublicKey, certSignatureAlgorithm } from './cert-keys.js';
import { keyParser, ssh2Module, type Ssh2Key } from './ssh2-internals.js';
import { WireReader } from '../wire/index.js';

export type { AgentSource } from '../agent/index.js';

export interface CertAgentOptions {
  /** Offer only this certificate (matched by its blob); an error when the agent does not hold it. */
  certBlob?: Buffer;
  /** After the certificates, also offer the agent's plain keys (default: certificates only). */
  includePlainKeys?: boolean;
}

/** ssh-agent flags for RSA signatures (draft-miller-ssh-agent §4.5.1). */
const SSH_AGENT_RSA_SHA2_256 = 2;
const SSH_AGENT_RSA_SHA2_512 = 4;

const Ssh2BaseAgent = ssh2Module().BaseAgent;

/** The ssh2 BaseAgent returned by createCertAgent. */
export class CertAgent extends Ssh2BaseAgent<Ssh2.ParsedKey> {
  constructor(
    readonly source: AgentSource,
    private readonly options: CertAgentOptions = {},
  ) {
    super();
  }

  /** The identities ssh2 will try, certificates first (ed25519 certificates only). */
  async identities(): Promise<Ssh2Key[]> {
    const keys = await withAgent(this.source, (a) => a.listKeys());
    const certs = keys.filter((k) => certSignatureAlgorithm(k.type) !== undefined && (!this.options.certBlob || k.blob.equals(this.options.certBlob)));
    if (this.options.certBlob && certs.length === 0) throw badParameter('the ssh-agent does not hold the requested certificate', 'log in again (tsh login) to put a fresh certificate in the agent');
    const out = certs.map((k) => certPublicKey(k.blob, k.comment));
    if (this.options.includePlainKeys && !this.options.certBlob) out.push(...plainKeys(keys));
    return out;
  }

  getIdentities(cb: Ssh2.IdentityCallback<Ssh2.ParsedKey>): void {
    this.identities().then(
      // ssh2 reads only type/getPublicSSH/comment of these; its typings know no certificate names.
      (keys) => cb(null, keys as unknown as Ssh2.ParsedKey[]),
      (err: Error) => cb(err),
    );
  }

  sign(pubKey: Ssh2.ParsedKey, data: Buffer, options: Ssh2.SigningRequestOptions, cb?: Ssh2.SignCallback): void;
  sign(pubKey: Ssh2.ParsedKey, data: Buffer, cb: Ssh2.SignCallback): void;
  sign(pubKey: Ssh2.ParsedKey, data: Buffer, options: Ssh2.SigningRequestOptions | Ssh2.SignCallback | undefined, cb?: Ssh2.SignCallback): void {
    const done: Ssh2.SignCallback = typeof options === 'function' ? options : (cb ?? (() => {}));
    const opts = typeof options === 'object' && options !== null ? options : {};
    this.signRaw(pubKey, data, opts).then(
      (sig) => done(null, sig),
      (err: Error) => done(err),
    );
  }

  /** Has the agent sign `data` with the key (or certificate) `pubKey`; returns the bare signature, as ssh2 expects. */
  async signRaw(pubKey: Ssh2.ParsedKey | Buffer, data: Buffer, options: Ssh2.SigningRequestOptions = {}): Promise<Buffer> {
    const blob = Buffer.isBuffer(pubKey) ? pubKey : pubKey.getPublicSSH();
    const type = new WireReader(blob, 'public key').text();
    let flags = 0;
    if (type === 'ssh-rsa' && options.hash === 'sha256') flags = SSH_AGENT_RSA_SHA2_256;
    if (type === 'ssh-rsa' && options.hash === 'sha512') flags = SSH_AGENT_RSA_SHA2_512;
    const sigBlob = await withAgent(this.source, (a) => a.sign(blob, data, flags));
    const rd = new WireReader(sigBlob, 'ssh-agent signature');
    const format = rd.text();
    const expected = certSignatureAlgorithm(type);
    if (expected !== undefined && format !== expected) throw badParameter(`the ssh-agent signed with ${format}, expected ${expected}`);
    return Buffer.from(rd.string());
  }

  /** For ssh2 Client `agentForward: true`: a fresh connection to the same agent. */
  override getStream(cb: Ssh2.GetStreamCallback): void {
    if (typeof this.source !== 'string' && typeof this.source !== 'function') {
      cb(new Error('a CertAgent over one shared stream cannot be forwarded: pass a socket path or a stream factory'));
      return;
    }
    openAgentStream(this.source).then(
      ({ stream }) => cb(null, stream),
      (err: Error) => cb(err),
    );
  }
}

/** The agent's plain keys that ssh2 itself can use (what ssh2's OpenSSHAgent would have offered). */
function plainKeys(keys: AgentKey[]): Ssh2Key[] {
  const { parseKey } = keyParser();
  const out: Ssh2Key[] = [];
  for (const k of keys) {
    if (k.type.endsWith('-cert-v01@openssh.com')) continue;
    const parsed = parseKey(k.blob);
    if (parsed instanceof Error || Array.isArray(parsed)) continue;
    parsed.comment = parsed.comment || k.comment;
    out.push(parsed);
  }
  return out;
}

/**
 * An ssh2 `agent` that authenticates with the OpenSSH certificates in an ssh-agent.
 * `source`: the agent's socket path ($SSH_AUTH_SOCK), a factory returning a fresh agent stream
 * per use (e.g. `() => openForwardedAgent(conn)` for an agent forwarded to an ssh2 Server), or
 * one Duplex used for every request (never closed here).
 */
export function createCertAgent(source: AgentSource, options: CertAgentOptions = {}): CertAgent {
  if (options.certBlob && new WireReader(options.certBlob, 'certificate').text() !== ED25519_CERT) throw badParameter('only ssh-ed25519 certificates are supported');
  return new CertAgent(source, options);
}
