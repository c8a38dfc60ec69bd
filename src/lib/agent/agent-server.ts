import crypto, { type KeyObject } from 'node:crypto';
import type { Duplex } from 'node:stream';
import { ed25519Blob, rawEd25519Public } from '../ca/index.js';
import { WireReader, WireWriter } from '../wire/index.js';

/*
 * A minimal in-process ssh-agent (draft-miller-ssh-agent §4.4, §4.5) serving exactly the
 * identities it is given. tsh forwards this, not the user's whole agent, so the proxy can borrow
 * the tollgate certificate and nothing else.
 *   11 REQUEST_IDENTITIES  → 12 IDENTITIES_ANSWER  uint32 n, (string blob, string comment)*
 *   13 SIGN_REQUEST        string key_blob, string data, uint32 flags
 *                          → 14 SIGN_RESPONSE     string signature (string "ssh-ed25519", string sig)
 *   anything else          → 5 FAILURE
 */
import {
  MAX_AGENT_MESSAGE as MAX_MESSAGE,
  SSH_AGENT_FAILURE as FAILURE,
  SSH_AGENT_IDENTITIES_ANSWER as IDENTITIES_ANSWER,
  SSH_AGENT_SIGN_RESPONSE as SIGN_RESPONSE,
  SSH_AGENTC_REQUEST_IDENTITIES as REQUEST_IDENTITIES,
  SSH_AGENTC_SIGN_REQUEST as SIGN_REQUEST,
} from './protocol.js';

export interface AgentIdentityKey {
  /** ed25519 private key. */
  privateKey: KeyObject;
  /** Certificate blob, if the key has one (offered first). */
  certBlob?: Buffer;
  comment: string;
}

/** Serves the agent protocol on `stream` until it ends. */
export function serveAgent(stream: Duplex, keys: readonly AgentIdentityKey[]): void {
  const entries = keys.flatMap((k) => {
    const plain = ed25519Blob(rawEd25519Public(k.privateKey));
    return [...(k.certBlob ? [{ blob: k.certBlob, key: k }] : []), { blob: plain, key: k }];
  });
  let buf = Buffer.alloc(0);
  const reply = (type: number, body: Buffer = Buffer.alloc(0)) => {
    const head = Buffer.alloc(5);
    head.writeUInt32BE(body.length + 1);
    head[4] = type;
    stream.write(Buffer.concat([head, body]));
  };
  stream.on('data', (chunk: Buffer) => {
    buf = Buffer.concat([buf, chunk]);
    while (buf.length >= 4) {
      const len = buf.readUInt32BE(0);
      if (len === 0 || len > MAX_MESSAGE) {
        stream.destroy();
        return;
      }
      if (buf.length < 4 + len) return;
      const type = buf[4]!;
      const body = buf.subarray(5, 4 + len);
      buf = buf.subarray(4 + len);
      try {
        if (type === REQUEST_IDENTITIES) {
          const w = new WireWriter().uint32(entries.length);
          for (const e of entries) w.string(e.blob).string(e.key.comment);
          reply(IDENTITIES_ANSWER, w.toBuffer());
        } else if (type === SIGN_REQUEST) {
          const r = new WireReader(body, 'agent sign request');
          const blob = r.string();
          const data = r.string();
          const entry = entries.find((e) => e.blob.equals(blob));
          if (!entry) reply(FAILURE);
          else {
            const sig = crypto.sign(null, data, entry.key.privateKey);
            reply(SIGN_RESPONSE, new WireWriter().string(new WireWriter().string('ssh-ed25519').string(sig).toBuffer()).toBuffer());
          }
        } else {
          reply(FAILURE);
        }
      } catch {
        reply(FAILURE);
      }
    }
  });
  stream.on('error', () => stream.destroy());
}
