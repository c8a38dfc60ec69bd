/*
 * What a node joining the cluster sends and gets back: one definition for both ends, the node
 * (openssh-node/, `teleport join openssh`) and the auth service (auth/inventory.ts). On the wire
 * they are api/web-routes.ts's nodeJoinRequest/nodeJoinResponse (snake_case, validated there).
 */

/** What the node sends when it redeems its join token (the command turns it into the HTTP call). */
export interface NodeJoinRequest {
  token: string;
  nodeName: string;
  /** HOST:PORT the proxy dials. */
  address: string;
  labels: Record<string, string>;
  /** `ssh-ed25519 AAAA... COMMENT`: the host key the proxy certifies. */
  hostPublicKey: string;
  /** Extra principals for the host certificate (os.hostname() and the like). */
  hostnames: string[];
}

/** What the proxy answers. */
export interface NodeJoinGrant {
  clusterName: string;
  /** Bare `ssh-ed25519 AAAA...` line for TrustedUserCAKeys. */
  openSshCa: string;
  /** `ssh-ed25519-cert-v01@openssh.com AAAA...` line certifying `hostPublicKey`. */
  hostCertificate: string;
}
