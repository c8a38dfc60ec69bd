/** The lines the proxy writes to a client's stderr when it refuses or ends a session. */
export const NEEDS_AGENT = 'tollgate: the recording proxy needs agent forwarding (tsh ssh does it; with ssh use -A)';
export const NO_TARGET = 'tollgate: name the node to connect to: tsh ssh LOGIN@NODE, or ssh -A -J USER@PROXY LOGIN@NODE';
export const TARGET_ENV = 'TOLLGATE_TARGET';
export const FORWARD_AGENT_ENV = 'TOLLGATE_FORWARD_AGENT';

/** The refusal of a target that is not in the inventory when proxy_service.allow_unregistered_nodes is no. */
export function unregisteredNodeLine(node: string): string {
  return `tollgate: ${node} is not a registered node, and this proxy only reaches registered nodes; register it with teleport join openssh (tctl tokens add --type=node), see tsh ls`;
}

/** `tsh join`: the session to attach to, named in an env request instead of TOLLGATE_TARGET. */
export const JOIN_ENV = 'TOLLGATE_JOIN';
/** `observer` (default) or `peer`. */
export const JOIN_MODE_ENV = 'TOLLGATE_JOIN_MODE';
