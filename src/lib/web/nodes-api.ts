import type { Context, Hono } from 'hono';
import type { LoginService, NodeInventory } from '../auth/index.js';
import { accessDenied } from '../errors.js';
import { mountRoutes, type Handlers } from '../http/index.js';
import { nodeRoutes, type NodeRoutes } from '../api/index.js';
import type { UserRecord } from '../store/index.js';
import { clientAddr, requestToken, type Env } from './web-session.js';


/**
 * The inventory over the web API: `tsh ls` lists the nodes the user's labels reach; a node joins
 * with its single-use token (the token is the credential, so the route needs no login).
 */
export function mountNodesApi(app: Hono<Env>, o: { inventory: NodeInventory; login: LoginService }): void {
  const handlers: Handlers<NodeRoutes, Env, UserRecord> = {
    listNodes: ({ user }) => o.inventory.nodesFor(user.name),
    joinNode: async ({ body: b }, c) => {
      const grant = await o.inventory.join(
        { token: b.token, nodeName: b.node_name, address: b.address, labels: b.labels, hostPublicKey: b.host_public_key, hostnames: b.hostnames },
        clientAddr(c),
      );
      return { cluster_name: grant.clusterName, openssh_ca: grant.openSshCa, host_certificate: grant.hostCertificate };
    },
  };
  mountRoutes(app, nodeRoutes, handlers, { authenticate: (c) => o.login.userForToken(requestToken(c)) });
}
