/*
 * Agent forwarding on an ssh2 Server: opening an `auth-agent@openssh.com` channel back to the
 * connected client (OpenSSH PROTOCOL §2.1 "agent forwarding"):
 *   byte      SSH_MSG_CHANNEL_OPEN (90)
 *   string    "auth-agent@openssh.com"
 *   uint32    sender channel
 *   uint32    initial window size
 *   uint32    maximum packet size
 * The channel then carries the ssh-agent protocol to the user's agent.
 *
 * ssh2 1.17 surfaces the client's `auth-agent-req@openssh.com` (session.on('auth-agent', accept))
 * and its protocol layer can send the open (lib/protocol/Protocol.js `openssh_authAgent`), but
 * its server connection had no public method for it: patches/ssh2+1.17.0.patch adds
 * `openssh_authAgent(cb)` to it, which goes through lib/server.js's own `openChannel()` exactly
 * as forwardOut / x11 do (a local channel id whose callback gets the Channel or the error from
 * CHANNEL_OPEN_CONFIRMATION / _FAILURE, ssh2's window and packet sizes).
 *
 * The OpenSSH client opens the channel only after the session asked for forwarding (ssh -A):
 * accept the 'auth-agent' request first. Each call opens a new channel (one per agent
 * conversation, as sshd does); destroy()/end() it when done (on a server channel end() sends
 * EOF and CLOSE together).
 */
import type { Duplex } from 'node:stream';
import type * as Ssh2 from 'ssh2';
import { unavailable } from '../errors.js';
import type { PatchedServerConnection } from './ssh2-patch.js';

export const AUTH_AGENT_CHANNEL = 'auth-agent@openssh.com';

/** Opens an agent channel to the client of an authenticated ssh2 Server connection. */
export function openForwardedAgent(conn: Ssh2.Connection): Promise<Ssh2.Channel & Duplex> {
  const c = conn as PatchedServerConnection;
  if (typeof c.openssh_authAgent !== 'function') return Promise.reject(new Error('openForwardedAgent needs an ssh2 Server connection'));
  if (!c.authenticated) return Promise.reject(unavailable('cannot open an agent channel before the client is authenticated'));
  return new Promise((resolve, reject) => {
    try {
      c.openssh_authAgent((err, stream) => {
        if (err || !stream) reject(unavailable(`the client refused the agent channel: ${err?.message ?? 'no channel'}`, 'connect with ssh -A (ForwardAgent yes)', err));
        else resolve(stream);
      });
    } catch (err) {
      reject(err as Error);
    }
  });
}
