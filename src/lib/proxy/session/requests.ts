import type { Duplex } from 'node:stream';
import type * as Ssh2 from 'ssh2';
import type { SessionKind } from '../../store/index.js';
import { FORWARD_AGENT_ENV, JOIN_ENV, JOIN_MODE_ENV, TARGET_ENV } from '../../proxy-protocol.js';
import { parseTarget, type Identity, type PtyInfo, type SessionPlan, type Target } from './plan.js';

/** Per client connection state shared by its session channels. */
export interface ConnectionContext {
  identity: Identity;
  /** Known for the nested (-J) path; undefined on the tsh path until the session names it. */
  target: Target | undefined;
  /** Whether the client asked for agent forwarding on this connection (auth-agent-req). */
  agentRequested: boolean;
  openAgent(): Promise<Duplex>;
}

/** What a started session still takes from the client's requests. */
export interface WindowSize {
  cols: number;
  rows: number;
  width: number;
  height: number;
}

export interface LiveControls {
  resize(size: WindowSize): void;
  signal(name: string): void;
}

export interface RequestOptions {
  /** proxy_service.forward_agent_to_nodes: the default for forwarding the agent on to the node. */
  forwardAgentToNodes: boolean;
  /** A request for a tunnel (X11) was refused: the caller audits it. */
  onRefusedTunnel(request: string): void;
  /**
   * The channel asked for shell, exec or a subsystem: the plan is complete. Returns the controls
   * that later window changes and signals go to (or undefined while the node is being dialled).
   */
  onStart(plan: SessionPlan, channel: Ssh2.ServerChannel): { live(): LiveControls | undefined };
}

/**
 * Collects one session channel's requests before it starts (pty, env, agent, the tsh target) into
 * a SessionPlan, and passes window changes and signals on once it runs. Shell, exec and subsystem
 * are accepted at once: once the client's EOF arrives (`ssh host cmd < /dev/null`) it is too late.
 */
export function collectSessionRequests(session: Ssh2.Session, conn: ConnectionContext, o: RequestOptions): void {
  let pty: PtyInfo | undefined;
  const env: Record<string, string> = {};
  let target = conn.target;
  let forwardAgent = o.forwardAgentToNodes;
  let join: SessionPlan['join'];
  let started: { live(): LiveControls | undefined } | undefined;

  session.on('pty', (accept, _reject, info) => {
    pty = { cols: info.cols, rows: info.rows, width: info.width, height: info.height, term: info.term, modes: info.modes };
    accept?.();
  });
  session.on('env', (accept, reject, info) => {
    if (info.key === TARGET_ENV && !conn.target) {
      target = parseTarget(info.val);
      return target ? accept?.() : reject?.();
    }
    // tsh join names a running session; on the outer connection only (a nested -J hop has its node).
    if (info.key === JOIN_ENV && !conn.target) {
      join = { id: info.val, mode: join?.mode ?? 'observer' };
      return accept?.();
    }
    if (info.key === JOIN_MODE_ENV && (info.val === 'observer' || info.val === 'peer')) {
      join = { id: join?.id ?? '', mode: info.val };
      return accept?.();
    }
    if (info.key === FORWARD_AGENT_ENV) {
      forwardAgent = info.val === 'yes';
      return accept?.();
    }
    env[info.key] = info.val;
    accept?.();
  });
  session.on('auth-agent', (accept) => {
    conn.agentRequested = true;
    accept?.();
  });
  // X11 forwarding is a tunnel, not a recording (DESIGN.md): refused, and the refusal audited.
  session.on('x11', (_accept, reject) => {
    o.onRefusedTunnel('x11');
    reject?.();
  });
  session.on('window-change', (accept, _reject, info) => {
    const size = { cols: info.cols, rows: info.rows, width: info.width, height: info.height };
    // Kept in the plan too: a resize while the node is being dialled is applied once it answers.
    if (pty) Object.assign(pty, size);
    started?.live()?.resize(size);
    accept?.();
  });
  session.on('signal', (accept, reject, info) => {
    // ssh2 throws on a signal name outside RFC 4254 §6.10; that must refuse the request, not
    // end the client's whole connection.
    try {
      started?.live()?.signal(info.name);
    } catch {
      return reject?.();
    }
    accept?.();
  });

  const start = (channel: Ssh2.ServerChannel, kind: SessionKind, command: string | null, subsystem: string | null) => {
    if (started) return;
    const plan: SessionPlan = { identity: conn.identity, target, kind, command, subsystem, pty, env, forwardAgent, agentRequested: conn.agentRequested, ...(join?.id ? { join } : {}) };
    started = o.onStart(plan, channel);
  };
  session.on('shell', (accept) => start(accept(), 'shell', null, null));
  session.on('exec', (accept, _reject, info) => start(accept(), 'exec', info.command, null));
  session.on('subsystem', (accept, _reject, info) => start(accept() as Ssh2.ServerChannel, info.name === 'sftp' ? 'sftp' : 'subsystem', null, info.name));
}
