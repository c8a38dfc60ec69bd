import { CLOCK_SKEW_MS, type ParsedCertificate } from '../ca/index.js';
import { NODE_DEFAULT_PORT } from '../auth/index.js';
import type { SessionPlan } from './session/index.js';

/** A terminal session asked for by a client that is not an SSH client (the web UI's terminal). */
export interface ClientSessionRequest {
  /** The user the web session cookie names (already checked by the web part). */
  user: string;
  /** The logins the user may use now (the user record's, as a certificate would carry them). */
  logins: readonly string[];
  /** When the credential that opened the session expires (disconnect_expired_cert uses it). */
  validUntil: Date;
  /**
   * When the credential was proven (the web session was checked): authorization refuses
   * credentials older than the user or their last reset, as for certificates. A reset ends every
   * web session, so a checked one is never older than the reset.
   */
  issuedAt: Date;
  clientAddr: string;
  /** A registered node's name: only agentless nodes, since there is no agent to borrow. */
  node: string;
  login: string;
  cols: number;
  rows: number;
}

/**
 * The plan the pipeline authorizes for a web terminal. The browser holds no certificate; its
 * identity is the web session, so the principals and expiry that authorization checks come from
 * the user record and the cookie's lifetime. Nothing here is signed or ever sent to a node: the
 * upstream login uses the per-session certificate the pipeline mints for the registered node.
 */
export function clientSessionPlan(req: ClientSessionRequest): SessionPlan {
  const empty = Buffer.alloc(0);
  const cert: ParsedCertificate = {
    type: 'user',
    subjectKey: empty,
    serial: 0n,
    keyId: `web:${req.user}`,
    principals: [...req.logins],
    // The CA's one-minute backdate, so authorization's fallback reads the issue time back exactly.
    validAfter: BigInt(Math.floor((req.issuedAt.getTime() - CLOCK_SKEW_MS) / 1000)),
    validBefore: BigInt(Math.floor(req.validUntil.getTime() / 1000)),
    criticalOptions: {},
    extensions: { 'permit-pty': '' },
    keyType: 'web-session',
    nonce: empty,
    signatureKey: empty,
    signatureAlgo: '',
    signature: empty,
    signedData: empty,
    blob: empty,
  };
  return {
    identity: { user: req.user, cert, clientAddr: req.clientAddr },
    // By name: the inventory resolves a node name on the default port to the node's own address.
    target: { login: req.login, host: req.node, port: NODE_DEFAULT_PORT },
    kind: 'shell',
    command: null,
    subsystem: null,
    pty: { cols: req.cols, rows: req.rows, width: 0, height: 0, term: 'xterm-256color', modes: {} },
    env: {},
    forwardAgent: false,
    agentRequested: false,
    client: 'web',
  };
}
