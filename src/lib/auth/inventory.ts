import crypto from 'node:crypto';
import { formatHostPort, parseHostPort } from '../address.js';
import { AuditEvents } from '../audit/index.js';
import { certificateLine, fingerprint, parsePublicKeyLine } from '../ca/index.js';
import type { Clock } from '../clock.js';
import { formatDuration } from '../duration.js';
import { alreadyExists, badParameter, notFound } from '../errors.js';
import { formatLabels, labelsMatch, parseLabels, type Labels } from '../labels.js';
import type { Logger } from '../log.js';
import type { NodeRecord, Store, UserRecord } from '../store/index.js';
import type { AuthService } from './auth-service.js';
import type { NodeJoinGrant, NodeJoinRequest } from '../join-protocol.js';
import { parseHostNames } from './validate.js';
import { hashToken } from './tokens.js';

export const JOIN_TOKEN_TTL_DEFAULT_MS = 30 * 60_000;
export const JOIN_TOKEN_TTL_MAX_MS = 24 * 3_600_000;
/** Registered nodes listen on the SSH port unless their address says otherwise. */
export const NODE_DEFAULT_PORT = 22;

/**
 * Node names go into host certificates and `LOGIN@NAME` targets, and a name wins over DNS when a
 * target is looked up: one DNS label (no dots), not all digits, so a registered name can never
 * shadow a host name or address that users reach as an unregistered target.
 */
const NODE_NAME = /^(?![0-9]+$)[A-Za-z0-9][A-Za-z0-9_-]{0,62}$/;

export function validateNodeName(name: string): string {
  if (!NODE_NAME.test(name)) throw badParameter(`invalid node name "${name}"`, 'use one label of 1-63 letters, digits, "_" or "-" (no dots), starting with a letter or digit, e.g. db-prod-3');
  return name;
}

function parseNodeAddr(text: string): { host: string; port: number } {
  const a = parseHostPort(text, NODE_DEFAULT_PORT);
  if (typeof a === 'string') throw badParameter(`invalid node address: ${a}`, 'give --addr=HOST[:PORT], e.g. 10.0.0.5:22');
  return a;
}


export interface JoinTokenGrant {
  token: string;
  expiresAt: Date;
  ttlMs: number;
}

export type { NodeJoinGrant, NodeJoinRequest } from '../join-protocol.js';

/** A node as listings show it (tctl nodes ls, tsh ls, the web API). */
export interface PublicNode {
  name: string;
  addr: string;
  labels: Labels;
  added_by: string;
  created_at: string;
  host_key_fingerprint: string | null;
}

export function publicNode(n: NodeRecord): PublicNode {
  return {
    name: n.name,
    addr: formatHostPort(n),
    labels: n.labels,
    added_by: n.addedBy,
    created_at: new Date(n.createdAt).toISOString(),
    host_key_fingerprint: n.hostKeyFingerprint,
  };
}

/** Whether `user` may reach `node` by its labels. */
export function userMayReach(user: Pick<UserRecord, 'nodeLabels'>, node: Pick<NodeRecord, 'labels'>): boolean {
  return labelsMatch(user.nodeLabels, node.labels);
}

/**
 * The node inventory: registered OpenSSH nodes (agentless: they trust the OpenSSH CA), the
 * single-use tokens that let a node register itself, and which nodes a user may reach.
 */
export class NodeInventory {
  constructor(
    private readonly o: {
      store: Store;
      auth: AuthService;
      clock: Clock;
      log: Logger;
      /**
       * Names a node's host certificate must never carry: the proxy's own (its host certificate
       * principals), since clients trust the host CA for the names they dial.
       */
      reservedNames?: readonly string[];
    },
  ) {}

  private get auditor() {
    return this.o.auth.auditor;
  }

  /** Adds a node by hand (`tctl nodes add`); its sshd must trust the OpenSSH CA for sessions to work. */
  async addNode(req: { name: string; addr: string; labels?: string }, actor = 'admin'): Promise<PublicNode> {
    const name = validateNodeName(req.name);
    const addr = parseNodeAddr(req.addr);
    const labels = parseLabels(req.labels ?? '');
    if (await this.o.store.getNode(name)) throw alreadyExists(`node "${name}" is already registered`, `remove it first with tctl nodes rm ${name}`);
    const node: NodeRecord = { name, ...addr, labels, addedBy: actor, createdAt: this.o.clock.now().getTime(), hostKeyFingerprint: null };
    await this.o.store.putNode(node);
    await this.auditor.record(AuditEvents.nodeCreate, null, { name, addr: formatHostPort(addr), labels: formatLabels(labels), actor });
    return publicNode(node);
  }

  async listNodes(): Promise<PublicNode[]> {
    return (await this.o.store.listNodes()).map(publicNode);
  }

  /** The nodes a user may reach (tsh ls). */
  async nodesFor(userName: string): Promise<PublicNode[]> {
    const user = await this.o.store.getUser(userName);
    if (!user) return [];
    return (await this.o.store.listNodes()).filter((n) => userMayReach(user, n)).map(publicNode);
  }

  async removeNode(name: string, actor = 'admin'): Promise<void> {
    if (!(await this.o.store.deleteNode(name))) throw notFound(`node "${name}" not found`, 'see tctl nodes ls');
    await this.auditor.record(AuditEvents.nodeDelete, null, { name, actor });
  }

  /**
   * A registered node for a target as a client names it: by inventory name first, then by its
   * address. Undefined: not registered (the legacy, agent-forwarding path).
   */
  async findNode(host: string, port: number): Promise<NodeRecord | undefined> {
    const byName = NODE_NAME.test(host) ? await this.o.store.getNode(host) : undefined;
    // A name with an explicit other port is not that node: `tsh ssh --port=2222 node1` means what it says.
    if (byName && (port === NODE_DEFAULT_PORT || port === byName.port)) return byName;
    const nodes = await this.o.store.listNodes();
    return nodes.find((n) => n.host === host && n.port === port);
  }

  /** A single-use token a node redeems with `teleport join openssh` (only its hash is stored). */
  async createJoinToken(ttlMs: number | undefined, actor = 'admin'): Promise<JoinTokenGrant> {
    const ttl = ttlMs ?? JOIN_TOKEN_TTL_DEFAULT_MS;
    if (!Number.isFinite(ttl) || ttl < 1000 || ttl > JOIN_TOKEN_TTL_MAX_MS) {
      throw badParameter(`join token TTL ${formatDuration(ttl)} is out of range`, `use between 1s and ${formatDuration(JOIN_TOKEN_TTL_MAX_MS)}`);
    }
    const token = crypto.randomBytes(24).toString('hex');
    const now = this.o.clock.now().getTime();
    await this.o.store.createJoinToken({ tokenHash: hashToken(token), type: 'node', createdAt: now, expiresAt: now + ttl, usedAt: null, usedBy: null });
    await this.auditor.record(AuditEvents.joinTokenCreate, null, { type: 'node', token_id: hashToken(token).slice(0, 12), expires_at: new Date(now + ttl).toISOString(), actor });
    return { token, expiresAt: new Date(now + ttl), ttlMs: ttl };
  }

  /**
   * A node redeems its token: the token is used up atomically, the node gets a host certificate
   * (principals: its name, address and host names) and the OpenSSH CA, and is registered.
   * Every refusal is audited (`node.join`, success false) and says the same thing to the caller
   * whether the token never existed, was used or expired, apart from the hint.
   */
  async join(req: NodeJoinRequest, addr: string): Promise<NodeJoinGrant> {
    const tokenHash = hashToken(req.token);
    const fail = async (reason: string, err: Error): Promise<never> => {
      await this.auditor.record(AuditEvents.nodeJoin, null, { success: false, name: req.nodeName, reason, addr, token_id: tokenHash.slice(0, 12) });
      throw err;
    };
    // The token first, without using it up: a caller without one learns nothing of the inventory.
    const now = this.o.clock.now().getTime();
    const t = await this.o.store.getJoinToken(tokenHash);
    const unusable = !t ? 'unknown token' : t.usedAt !== null ? 'token already used' : t.expiresAt <= now ? 'token expired' : undefined;
    const refused = (why: string) =>
      badParameter(`the join token was refused (${why === 'unknown token' ? 'not valid' : why.replace('token ', '')})`, 'ask an administrator for a new one: tctl tokens add --type=node');
    if (unusable) return fail(unusable, refused(unusable));
    let name: string;
    let nodeAddr: { host: string; port: number };
    let hosts: string[];
    const reserved = new Set((this.o.reservedNames ?? []).map((h) => h.toLowerCase()));
    try {
      name = validateNodeName(req.nodeName);
      nodeAddr = parseNodeAddr(req.address);
      if (reserved.has(name.toLowerCase())) throw badParameter(`node name "${name}" is one of the proxy's names`, 'join under another --node-name');
      // The proxy's names (and loopback, when the node shares the proxy's machine) are left out of
      // the host certificate: clients trust the host CA for the names they dial.
      hosts = parseHostNames([name, nodeAddr.host, ...req.hostnames]).filter((h) => h === name || !reserved.has(h.toLowerCase()));
      parsePublicKeyLine(req.hostPublicKey);
      for (const [k, v] of Object.entries(req.labels)) parseLabels(`${k}=${v}`);
    } catch (err) {
      return fail((err as Error).message, err as Error);
    }
    // A token is not bound to a name, so a join must not take over another node: not its name
    // (unless it is the same host key re-joining), and no principal that names another node.
    const nodes = await this.o.store.listNodes();
    const fp = fingerprint(parsePublicKeyLine(req.hostPublicKey).blob);
    const same = nodes.find((n) => n.name === name);
    if (same && same.hostKeyFingerprint !== fp) {
      return fail('name taken', alreadyExists(`node "${name}" is already registered with another host key`, `remove it first (tctl nodes rm ${name}) if this host replaces it, or join under another --node-name`));
    }
    const taken = nodes.filter((n) => n.name !== name).find((n) => hosts.includes(n.name) || hosts.includes(n.host));
    if (taken) return fail(`principal of node ${taken.name}`, alreadyExists(`this join would name node "${taken.name}" (its name or address)`, 'give each node its own --node-name and --address'));
    const used = await this.o.store.consumeJoinToken(tokenHash, now, name);
    if (!used) return fail('token already used', refused('token already used'));
    const { blob } = parsePublicKeyLine(req.hostPublicKey);
    const cert = await this.o.auth.signHostCert({ publicKey: req.hostPublicKey, hosts }, `node:${name}`);
    const existing = await this.o.store.getNode(name);
    const node: NodeRecord = {
      name,
      ...nodeAddr,
      labels: req.labels,
      addedBy: `join:${tokenHash.slice(0, 12)}`,
      createdAt: existing?.createdAt ?? now,
      hostKeyFingerprint: fingerprint(blob),
    };
    await this.o.store.putNode(node);
    await this.auditor.record(AuditEvents.nodeJoin, null, { success: true, name, addr: formatHostPort(nodeAddr), labels: formatLabels(req.labels), from: addr, host_key: node.hostKeyFingerprint, token_id: tokenHash.slice(0, 12) });
    this.o.log.info('node joined', { component: 'auth', node: name, addr: formatHostPort(nodeAddr) });
    return {
      clusterName: this.o.auth.clusterName,
      openSshCa: this.o.auth.exportCA('openssh'),
      hostCertificate: certificateLine(cert.blob, `${name}@${this.o.auth.clusterName}`),
    };
  }
}
