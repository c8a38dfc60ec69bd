import crypto from 'node:crypto';
import type * as Ssh2 from 'ssh2';
import { AuditEvents, type Auditor } from '../../audit/index.js';
import type { Clock } from '../../clock.js';
import type { Logger } from '../../log.js';
import { RecordingStopped } from '../../recording/index.js';
import type { LockRecord, NodeRecord, UserRecord } from '../../store/index.js';
import type { SessionCertificate, Upstream, UpstreamConnector } from '../upstream.js';
import { authorizeSession, type AuthorizationFacts } from './authorize.js';
import { nodeName, type SessionPlan } from './plan.js';
import { NO_LIMITS, watchLimits, type SessionLimits } from './limits.js';
import { recorderTap, type SessionRecorder, type SessionRecording } from './recorder-tap.js';
import { relaySession, refuseChannel, type ClientChannel, type Relay } from './relay.js';
import { collectSessionRequests, type ConnectionContext, type LiveControls } from './requests.js';
import { createOptionalTap, SessionTaps, type SessionTap, type TapConsumer } from './taps.js';
import type { Identity } from './plan.js';

/** Buffered bytes past which an optional tap (live view, indexer) is dropped from a session. */
export const OPTIONAL_TAP_BUFFER_BYTES = 8 * 1024 * 1024;

/** What every part of the proxy that admits traffic for a user needs (sessions, tunnels). */
export interface ProxyServices {
  auditor: Auditor;
  clock: Clock;
  log: Logger;
  /** The user as the store has them now (a connection can outlive the user's deletion or lock). */
  lookupUser(name: string): Promise<UserRecord | undefined>;
  /** The inventory: the registered node a target names (by name, then address). None when absent. */
  findNode?(host: string, port: number): Promise<NodeRecord | undefined>;
  /** Mints the per-session certificate for a registered node (the OpenSSH CA; audited as cert.create). */
  mintSessionCert?(req: { user: string; sessionId: string; login: string; agentForwarding: boolean; portForwarding: boolean }): Promise<SessionCertificate>;
  /** proxy_service.allow_unregistered_nodes: no. */
  refuseUnregistered?: boolean;
  /** The store's revocation facts (issue times, locks); without it only certificate times and the user are checked. */
  revocation?: RevocationSource;
}

/** Where authorization reads what revokes a certificate or a session (the store, in the proxy). */
export interface RevocationSource {
  /** When the certificate with this serial was issued (issued_certs.created_at), if recorded. */
  certIssuedAt(serial: string): Promise<number | undefined>;
  /** Locks in force at `now`. */
  locks(now: number): Promise<readonly LockRecord[]>;
}

/** The facts authorizeSession and authorizeTunnel need about one identity, read fresh for every session and forward. */
export async function authorizationFacts(deps: ProxyServices, who: Identity, now: Date): Promise<Pick<AuthorizationFacts, 'user' | 'now' | 'certIssuedAt' | 'locks'>> {
  const [user, certIssuedAt, locks] = await Promise.all([
    deps.lookupUser(who.user),
    deps.revocation?.certIssuedAt(who.cert.serial.toString()),
    deps.revocation?.locks(now.getTime()) ?? [],
  ]);
  return { user, now, certIssuedAt, locks };
}

/**
 * The credentials for dialling a node: a per-session certificate for a registered node (never
 * the client's agent), nothing extra for the legacy path (the borrowed agent signs).
 */
export async function upstreamCredentials(
  deps: ProxyServices,
  node: NodeRecord | undefined,
  req: { user: string; sessionId: string; login: string; agentForwarding: boolean; portForwarding: boolean },
): Promise<SessionCertificate | undefined> {
  if (!node) return undefined;
  if (!deps.mintSessionCert) throw new Error('this proxy cannot mint session certificates');
  return deps.mintSessionCert(req);
}

export interface PipelineDeps extends ProxyServices {
  /** Records each session (RecordingService), or only audits it (UnrecordedSessions, session_recording: off). */
  recordings: SessionRecorder;
  upstream: Pick<UpstreamConnector, 'connect'>;
  /** Agent forwarding to nodes when the user did not ask for it (proxy_service.forward_agent_to_nodes). */
  forwardAgentToNodes: boolean;
  /** Optional taps for a session that has started (live view, search indexer); none by default. */
  optionalTaps?(sessionId: string, plan: SessionPlan, recordingStart?: number): TapConsumer[];
  /** How long the end of a session waits for optional taps (default OPTIONAL_TAP_CLOSE_MS). */
  optionalTapCloseMs?: number;
  /** client_idle_timeout and disconnect_expired_cert (default: neither). */
  limits?: SessionLimits;
  /** Told of each relayed session, so a graceful shutdown can wait for it and end it. */
  track?(relay: Relay): void;
  /** True while the proxy shuts down: new sessions are refused, running ones go on. */
  draining?(): boolean;
  /** A session is being set up (authorized, dialled, recorded): returns what to call once it is relayed or refused. */
  settingUp?(): () => void;
  /** The registry of running sessions (tsh join, sessions ls --active, tctl sessions end). */
  live?: LiveHooks;
}

/** What the pipeline gives a running session's live view once its relay runs. */
export interface LiveSessionControls {
  /** Ends the session (tctl sessions end): `line` goes to the client, the reason to the recording and audit. */
  stop(reason: string, line: string): void;
  /** A peer's keystrokes: into the session's input path, recorded with the participant's name. */
  input(data: Buffer, participant: string): void;
  /** A status line to the session's own client ("alice joined as observer"), PTY sessions only. */
  notify(line: string): void;
}

/** A session's live view: one more optional tap, told the session's controls once it is relayed. */
export interface LiveTap extends TapConsumer {
  started(controls: LiveSessionControls): void;
}

/**
 * The live registry as the pipeline sees it (proxy/live implements it; the pipeline only calls
 * it, so the folders do not depend on each other both ways).
 */
export interface LiveHooks {
  begin(meta: { id: string; user: string; login: string; node: string; kind: string; startedAt: number; pty?: { cols: number; rows: number } }): LiveTap;
  remove(id: string): void;
  /** tsh join: a channel that named a running session instead of a node. */
  join(channel: Ssh2.ServerChannel, who: Identity, req: { id: string; mode: 'observer' | 'peer' }): Promise<void>;
}

/** What a client is told when it opens a session while the proxy shuts down. */
export const DRAINING_LINE = 'tollgate: the proxy is shutting down; no new sessions (try again in a moment)';

/**
 * One session channel from the client, through the pipeline:
 *   requests → SessionPlan → authorization (pure) → upstream dial → recording → relay with taps.
 * Every refusal is audited (`session.rejected`) with its reason and told to the client in one line.
 */
export function handleSession(session: Ssh2.Session, conn: ConnectionContext, deps: PipelineDeps): void {
  const log = deps.log.child({ user: conn.identity.user });
  collectSessionRequests(session, conn, {
    forwardAgentToNodes: deps.forwardAgentToNodes,
    onRefusedTunnel: (request) => deps.auditor.emit(AuditEvents.port, conn.identity.user, { request, allowed: false, addr: conn.identity.clientAddr }),
    onStart(plan, channel) {
      if (plan.join) {
        const join = plan.join;
        if (!deps.live) {
          refuseChannel(channel, 'tollgate: this proxy does not serve live sessions');
          return { live: () => undefined };
        }
        void deps.live.join(channel, plan.identity, join).catch((err: Error) => {
          log.error('join failed', { component: 'live', error: err.message });
          refuseChannel(channel, `tollgate: cannot join: ${err.message}`);
        });
        // A joined viewer's window changes do not resize the session (its owner's terminal does).
        return { live: () => undefined };
      }
      return startSession(plan, channel, conn, deps, log);
    },
  });
}

/**
 * A session whose client is not an SSH channel (the browser's terminal: `channel` is the
 * WebSocket's adapter), through the same pipeline as any other: authorization, a per-session
 * certificate for the registered node (there is no agent to borrow), recording, audit, live view.
 * Window changes go to `live()` once the session is relayed.
 */
export function startClientSession(plan: SessionPlan, channel: ClientChannel, deps: PipelineDeps): { live(): LiveControls | undefined } {
  const noAgent = { openAgent: () => Promise.reject(new Error('this client has no agent')) };
  return startSession(plan, channel, noAgent, deps, deps.log.child({ user: plan.identity.user }));
}

function startSession(plan: SessionPlan, channel: ClientChannel, conn: Pick<ConnectionContext, 'openAgent'>, deps: PipelineDeps, log: Logger): { live(): LiveControls | undefined } {
  let live: LiveControls | undefined;
  // A graceful shutdown waits for sessions being set up too, not only those already relayed.
  const settled = deps.settingUp?.();
  void runSession(plan, channel, conn, deps, log, (controls) => (live = controls))
    .catch((err: Error) => {
      log.error('session failed', { component: 'proxy', error: err.message });
      refuseChannel(channel, `tollgate: ${err.message}`);
    })
    .finally(() => settled?.());
  return { live: () => live };
}

async function runSession(plan: SessionPlan, channel: ClientChannel, conn: Pick<ConnectionContext, 'openAgent'>, deps: PipelineDeps, log: Logger, attach: (live: LiveControls) => void): Promise<void> {
  const who = plan.identity;
  const reject = async (reason: string, line: string, status = 1): Promise<void> => {
    refuseChannel(channel, line, status);
    const t = plan.target;
    const fields = { reason, ...(t ? { login: t.login, node: nodeName(t) } : {}), addr: who.clientAddr };
    try {
      await deps.auditor.record(AuditEvents.sessionRejected, who.user, fields);
    } catch (err) {
      log.error('cannot write an audit event; it is kept only in this log line', { component: 'audit', event: AuditEvents.sessionRejected, error: (err as Error).message, ...fields });
    }
  };

  if (deps.draining?.()) return reject('proxy shutting down', DRAINING_LINE, 255);
  let registered: NodeRecord | undefined;
  try {
    registered = plan.target && deps.findNode ? await deps.findNode(plan.target.host, plan.target.port) : undefined;
  } catch (err) {
    return reject(`inventory lookup failed: ${(err as Error).message}`, `tollgate: cannot look the node up: ${(err as Error).message}`, 255);
  }
  let facts: Awaited<ReturnType<typeof authorizationFacts>>;
  try {
    facts = plan.target ? await authorizationFacts(deps, who, deps.clock.now()) : { user: undefined, now: deps.clock.now() };
  } catch (err) {
    return reject(`store lookup failed: ${(err as Error).message}`, `tollgate: cannot check access: ${(err as Error).message}`, 255);
  }
  const decision = authorizeSession(plan, {
    ...facts,
    node: registered,
    refuseUnregistered: deps.refuseUnregistered,
  });
  if (!decision.allowed) return reject(decision.reason, decision.line);
  const t = decision.target;
  const node = decision.nodeLabel;
  // Chosen now: a per-session certificate names the session before its recording exists.
  const sessionId = crypto.randomUUID();

  let up: Upstream;
  try {
    const sessionCert = await upstreamCredentials(deps, decision.node, { user: who.user, sessionId, login: t.login, agentForwarding: plan.forwardAgent, portForwarding: false });
    up = await deps.upstream.connect({ target: t, identity: who, hostName: decision.node?.name, sessionCert, openAgent: () => conn.openAgent(), keepAgent: plan.forwardAgent });
  } catch (err) {
    return reject((err as Error).message, `tollgate: cannot connect to ${t.login}@${node}: ${(err as Error).message}`, 255);
  }

  let rec: SessionRecording;
  // The size the recording starts with; a resize while the node is dialled is recorded below.
  const startSize = { cols: plan.pty?.cols ?? 80, rows: plan.pty?.rows ?? 24 };
  try {
    rec = await deps.recordings.start({
      id: sessionId,
      upstreamAuth: decision.node ? 'session-cert' : 'forwarded-agent',
      ...(plan.client ? { client: plan.client } : {}),
      user: who.user,
      login: t.login,
      node,
      clientAddr: who.clientAddr,
      kind: plan.kind,
      command: plan.command ?? (plan.subsystem ? `subsystem:${plan.subsystem}` : null),
      pty: Boolean(plan.pty),
      cols: startSize.cols,
      rows: startSize.rows,
      term: plan.pty?.term,
    });
  } catch (err) {
    up.close();
    return reject((err as Error).message, `tollgate: ${(err as Error).message}`);
  }
  const sessionLog = log.child({ sid: rec.id });
  sessionLog.info('session started', { component: 'proxy', login: t.login, node, kind: plan.kind, command: plan.command ?? undefined });

  let opened: Awaited<ReturnType<Upstream['openSession']>>;
  try {
    opened = await up.openSession({ kind: plan.kind, command: plan.command, subsystem: plan.subsystem, pty: plan.pty, env: plan.env, forwardAgent: plan.forwardAgent });
  } catch (err) {
    up.close();
    refuseChannel(channel, `tollgate: the node refused the session: ${(err as Error).message}`, 255);
    await rec.end({ exitStatus: null, exitSignal: null, reason: `node refused the session: ${(err as Error).message}` }).catch((e: Error) =>
      sessionLog.error('could not finish the recording', { component: 'proxy', error: e.message }),
    );
    return;
  }
  const { stream, exit } = opened;
  // A resize that arrived while the node was being dialled.
  if (plan.pty) stream.setWindow(plan.pty.rows, plan.pty.cols, plan.pty.height, plan.pty.width);

  let taps: SessionTaps;
  let limits: ReturnType<typeof watchLimits> | undefined;
  // Assigned below; a limit can only be reached on a later turn, once the relay exists.
  let relay: Relay | undefined;
  let liveSession: LiveTap | undefined;
  try {
    liveSession = deps.live?.begin({
      id: rec.id,
      user: who.user,
      login: t.login,
      node,
      kind: plan.kind,
      startedAt: deps.clock.now().getTime(),
      ...(plan.pty ? { pty: { cols: plan.pty.cols, rows: plan.pty.rows } } : {}),
    });
    const consumers = [...(deps.optionalTaps?.(rec.id, plan, rec.startedAtMs) ?? []), ...(liveSession ? [liveSession] : [])];
    const optional: SessionTap[] = consumers.map((consumer) =>
      createOptionalTap(consumer, {
        maxBufferedBytes: OPTIONAL_TAP_BUFFER_BYTES,
        onDrop: (reason) => {
          sessionLog.warn('dropped a session tap', { component: 'proxy', tap: consumer.name, reason });
          deps.auditor.emit(AuditEvents.sessionTapDropped, who.user, { sid: rec.id, tap: consumer.name, reason });
        },
      }),
    );
    limits = watchLimits({
      limits: deps.limits ?? NO_LIMITS,
      certValidBefore: who.cert.validBefore,
      now: () => deps.clock.now().getTime(),
      onReached: (r) => {
        sessionLog.info('ending the session', { component: 'proxy', reason: r.reason });
        relay?.stop(r.reason, r.line);
      },
    });
    taps = new SessionTaps(recorderTap(rec, plan.kind === 'sftp' ? { auditor: deps.auditor, log: sessionLog } : undefined), [limits.tap, ...optional], sessionLog, (tap, reason) => {
      sessionLog.warn('dropped a session tap', { component: 'proxy', tap, reason });
      deps.auditor.emit(AuditEvents.sessionTapDropped, who.user, { sid: rec.id, tap, reason });
    }, deps.optionalTapCloseMs);
  } catch (err) {
    limits?.stop();
    if (liveSession) deps.live?.remove(rec.id);
    stream.close();
    up.close();
    refuseChannel(channel, `tollgate: cannot set up the session: ${(err as Error).message}`, 255);
    await rec.end({ exitStatus: null, exitSignal: null, reason: `session set-up failed: ${(err as Error).message}` }).catch((e: Error) =>
      sessionLog.error('could not finish the recording', { component: 'proxy', error: e.message }),
    );
    return;
  }
  if (plan.pty && (plan.pty.cols !== startSize.cols || plan.pty.rows !== startSize.rows)) taps.write({ type: 'resize', cols: plan.pty.cols, rows: plan.pty.rows });

  relay = relaySession({
    client: channel,
    node: stream,
    taps,
    exit,
    log: sessionLog,
    async finish(end) {
      limits?.stop();
      up.close();
      try {
        await taps.close(end);
      } catch (err) {
        sessionLog.error('could not finish the recording', { component: 'proxy', error: (err as Error).message });
      }
      sessionLog.info('session ended', { component: 'proxy', reason: end.reason, exit_status: end.exitStatus ?? undefined });
    },
  });
  deps.track?.(relay);
  if (liveSession) {
    const r = relay;
    liveSession.started({
      stop: (reason, line) => r.stop(reason, line),
      input(data, participant) {
        if (stream.destroyed || stream.writableEnded) return;
        // The same path as the client's keystrokes: to the node, and to every tap, tagged.
        taps.write({ type: 'input', data, participant });
        stream.write(data);
      },
      notify(line) {
        if (plan.pty && !channel.destroyed && !channel.writableEnded) channel.stderr.write(`\r\n[tollgate] ${line}\r\n`);
      },
    });
    void relay.done.finally(() => deps.live?.remove(rec.id));
  }
  attach({
    resize: (size) => {
      stream.setWindow(size.rows, size.cols, size.height, size.width);
      taps.write({ type: 'resize', cols: size.cols, rows: size.rows });
    },
    signal: (name) => stream.signal(name),
  });

  // Recording is mandatory: if it cannot be written any more, the session ends, with the reason.
  rec.onFailure((err) => {
    if (err instanceof RecordingStopped) return relay?.stop(err.reason, err.clientLine);
    const code = (err as NodeJS.ErrnoException).code ?? err.message;
    sessionLog.error('recording failed; ending the session', { component: 'proxy', error: code });
    relay?.stop(`recording failed: ${code}`, `tollgate: the session recording failed (${code}); recording is mandatory, so the session ends`);
  });
  up.onLost((message) => relay?.stop(`node connection lost: ${message}`, `tollgate: connection to ${node} lost: ${message}`));
}
