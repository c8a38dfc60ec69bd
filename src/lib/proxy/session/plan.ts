import type * as Ssh2 from 'ssh2';
import type { ParsedCertificate } from '../../ca/index.js';
import type { SessionKind } from '../../store/index.js';

/** Who is on the other end, as proven by their certificate. */
export interface Identity {
  user: string;
  cert: ParsedCertificate;
  clientAddr: string;
}

/** The node a session goes to, and as whom. */
export interface Target {
  login: string;
  host: string;
  port: number;
}

export interface PtyInfo {
  cols: number;
  rows: number;
  width: number;
  height: number;
  term: string;
  modes: Ssh2.TerminalModes;
}

/**
 * Everything a session channel asked for before it started, as one plain value: the input of
 * authorization (a pure function of it) and of the upstream dial. Built by collectSessionRequests.
 */
export interface SessionPlan {
  identity: Identity;
  /** Undefined when the client never named a node (tsh names it in an env request). */
  target: Target | undefined;
  kind: SessionKind;
  command: string | null;
  subsystem: string | null;
  pty: PtyInfo | undefined;
  env: Record<string, string>;
  /** Forward the user's agent on to the node (tsh ssh -A, or forward_agent_to_nodes). */
  forwardAgent: boolean;
  /** Whether the client forwarded its agent to the proxy (auth-agent-req on this connection). */
  agentRequested: boolean;
  /** tsh join: the channel attaches to a running session instead of dialling a node. */
  join?: { id: string; mode: 'observer' | 'peer' };
  /** A client that is not an SSH client (`web`: the browser's terminal), named in the audit log. */
  client?: 'web';
}

/** `host:port`, as logs and the session index name a node. */
export function nodeName(t: Target): string {
  return `${t.host}:${t.port}`;
}

/** Parses `login@host:port` (IPv6 in brackets) as tsh names the target. */
export function parseTarget(text: string): Target | undefined {
  const m = /^([^@\s]+)@(?:\[([^\]]+)\]|([^:\s]+)):(\d{1,5})$/.exec(text);
  if (!m) return undefined;
  const port = Number(m[4]);
  if (port < 1 || port > 65535) return undefined;
  return { login: m[1]!, host: m[2] ?? m[3]!, port };
}
