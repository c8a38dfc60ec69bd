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
 * the server connection has no public method for it: lib/server.js's private `openChannel()`
 * only knows forwarded-tcpip, x11 and forwarded-streamlocal. openForwardedAgent does exactly
 * what openChannel does for those (reserve a local id in `_chanMgr` with a callback whose
 * `.type` names the channel; ssh2's CHANNEL_OPEN_CONFIRMATION / _FAILURE handlers in
 * lib/server.js then build the Channel or report the error), using ssh2's own window and
 * packet constants (lib/Channel.js MAX_WINDOW, PACKET_SIZE). No ssh2 code is replaced.
 *
 * The OpenSSH client opens the channel only after the session asked for forwarding (ssh -A):
 * accept the 'auth-agent' request first. Each call opens a new channel (one per agent
 * conversation, as sshd does); destroy()/end() it when done (on a server channel end() sends
 * EOF and CLOSE together).
 */
import type { Duplex } from 'node:stream';
import type * as Ssh2 from 'ssh2';
import { unavailable } from '../errors.js';
import { assertSsh2Version, channelModule, type ServerConnectionInternals } from './ssh2-internals.js';

export const AUTH_AGENT_CHANNEL = 'auth-agent@openssh.com';

/** Opens an agent channel to the client of an authenticated ssh2 Server connection. */
export function openForwardedAgent(conn: Ssh2.Connection): Promise<Ssh2.Channel & Duplex> {
  assertSsh2Version();
  const c = conn as unknown as ServerConnectionInternals;
  if (!c._chanMgr || !c._protocol || typeof c._protocol.openssh_authAgent !== 'function') {
    return Promise.reject(new Error('openForwardedAgent needs an ssh2 Server connection'));
  }
  if (!c.authenticated) return Promise.reject(unavailable('cannot open an agent channel before the client is authenticated'));
  const { MAX_WINDOW, PACKET_SIZE } = channelModule();
  return new Promise((resolve, reject) => {
    const onOpen = Object.assign(
      (err: Error | undefined, stream?: Ssh2.Channel) => {
        if (err || !stream) reject(unavailable(`the client refused the agent channel: ${err?.message ?? 'no channel'}`, 'connect with ssh -A (ForwardAgent yes)', err));
        else resolve(stream);
      },
      { type: AUTH_AGENT_CHANNEL },
    );
    const localChan = c._chanMgr.add(onOpen);
    if (localChan === -1) return reject(unavailable('no free channels available'));
    try {
      c._protocol.openssh_authAgent(localChan, MAX_WINDOW, PACKET_SIZE);
    } catch (err) {
      c._chanMgr.remove(localChan);
      reject(err as Error);
    }
  });
}
