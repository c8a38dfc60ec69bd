import type { Duplex } from 'node:stream';
import type * as Ssh2 from 'ssh2';
import type { ParsedCertificate } from '../ca/certificate.js';
import type { Logger } from '../log.js';
import type { ActiveRecording, RecordingService } from '../recording/session-recorder.js';
import type { SessionKind } from '../store/types.js';
import { FORWARD_AGENT_ENV, NEEDS_AGENT, NO_TARGET, TARGET_ENV } from './messages.js';
import type { Upstream, UpstreamConnector } from './upstream.js';

/** Who is on the other end, as proven by their certificate. */
export interface Identity {
  user: string;
  cert: ParsedCertificate;
  clientAddr: string;
}

export interface Target {
  login: string;
  host: string;
  port: number;
}

/** Per client connection state shared by its session channels. */
export interface ConnectionContext {
  identity: Identity;
  /** Known for the nested (-J) path; undefined on the tsh path until the session names it. */
  target: Target | undefined;
  /** Whether the client asked for agent forwarding on this connection (auth-agent-req). */
  agentRequested: boolean;
  openAgent(): Promise<Duplex>;
}

export interface RelayDeps {
  recordings: RecordingService;
  upstream: UpstreamConnector;
  log: Logger;
  audit(event: string, user: string | null, fields: Record<string, unknown>): Promise<unknown>;
  /** Agent forwarding to nodes when the user did not ask for it (proxy_service.forward_agent_to_nodes). */
  forwardAgentToNodes: boolean;
  /**
   * Re-checks, for every new session, that the user still exists, is not locked and that the
   * certificate is still valid (a connection can outlive all three). Returns the refusal reason.
   */
  recheck(identity: Identity): Promise<string | undefined>;
}

interface PtyInfo {
  cols: number;
  rows: number;
  width: number;
  height: number;
  term: string;
  modes: Ssh2.TerminalModes;
}

/** Parses `login@host:port` (IPv6 in brackets) as tsh names the target. */
export function parseTarget(text: string): Target | undefined {
  const m = /^([^@\s]+)@(?:\[([^\]]+)\]|([^:\s]+)):(\d{1,5})$/.exec(text);
  if (!m) return undefined;
  const port = Number(m[4]);
  if (port < 1 || port > 65535) return undefined;
  return { login: m[1]!, host: m[2] ?? m[3]!, port };
}

/**
 * One session channel from the client: collects its pre-start requests (pty, env, agent), then on
 * shell/exec/subsystem connects to the node through the borrowed agent, records, and relays every
 * byte and request both ways with backpressure. Ends the recording exactly once.
 */
export function handleSession(session: Ssh2.Session, conn: ConnectionContext, deps: RelayDeps): void {
  let pty: PtyInfo | undefined;
  const env: Record<string, string> = {};
  let target = conn.target;
  let forwardAgent = deps.forwardAgentToNodes;
  let upstream: Upstream | undefined;
  let upstreamStream: Ssh2.ClientChannel | undefined;
  let recording: ActiveRecording | undefined;
  let started = false;
  const log = deps.log.child({ user: conn.identity.user });

  session.on('pty', (accept, _reject, info) => {
    pty = { cols: info.cols, rows: info.rows, width: info.width, height: info.height, term: info.term, modes: info.modes };
    accept?.();
  });
  session.on('env', (accept, reject, info) => {
    if (info.key === TARGET_ENV && !conn.target) {
      target = parseTarget(info.val);
      return target ? accept?.() : reject?.();
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
    void deps.audit('port', conn.identity.user, { request: 'x11', allowed: false, addr: conn.identity.clientAddr }).catch(() => {});
    reject?.();
  });
  session.on('window-change', (accept, _reject, info) => {
    if (pty) Object.assign(pty, { cols: info.cols, rows: info.rows, width: info.width, height: info.height });
    upstreamStream?.setWindow(info.rows, info.cols, info.height, info.width);
    recording?.resize(info.cols, info.rows);
    accept?.();
  });
  session.on('signal', (accept, _reject, info) => {
    upstreamStream?.signal(info.name);
    accept?.();
  });

  const start = (channel: Ssh2.ServerChannel, kind: SessionKind, command: string | null, subsystem: string | null) => {
    if (started) return;
    started = true;
    void run(channel, kind, command, subsystem).catch((err: Error) => {
      log.error('session failed', { component: 'proxy', error: err.message });
      refuse(channel, `tollgate: ${err.message}`);
    });
  };

  // Accept at once: once the client's EOF arrives (`ssh host cmd < /dev/null`) it is too late.
  session.on('shell', (accept) => start(accept(), 'shell', null, null));
  session.on('exec', (accept, _reject, info) => start(accept(), 'exec', info.command, null));
  session.on('subsystem', (accept, _reject, info) => start(accept() as Ssh2.ServerChannel, info.name === 'sftp' ? 'sftp' : 'subsystem', null, info.name));

  function refuse(channel: Ssh2.ServerChannel, line: string, status = 1): void {
    if (channel.destroyed) return;
    channel.stderr.write(`${line}\r\n`, () => {
      channel.exit(status);
      channel.end();
    });
  }

  async function run(channel: Ssh2.ServerChannel, kind: SessionKind, command: string | null, subsystem: string | null): Promise<void> {
    const who = conn.identity;
    if (!target) {
      refuse(channel, NO_TARGET);
      await deps.audit('session.rejected', who.user, { reason: 'no target named', addr: who.clientAddr });
      return;
    }
    const t = target;
    const node = `${t.host}:${t.port}`;
    if (!who.cert.principals.includes(t.login)) {
      refuse(channel, `tollgate: ${who.user} may not log in as ${t.login} (allowed: ${who.cert.principals.join(', ')})`);
      await deps.audit('session.rejected', who.user, { reason: `login ${t.login} not allowed`, login: t.login, node, addr: who.clientAddr });
      return;
    }
    const stale = await deps.recheck(who);
    if (stale) {
      refuse(channel, `tollgate: ${stale}`);
      await deps.audit('session.rejected', who.user, { reason: stale, login: t.login, node, addr: who.clientAddr });
      return;
    }
    if (!conn.agentRequested) {
      refuse(channel, NEEDS_AGENT);
      await deps.audit('session.rejected', who.user, { reason: 'no agent forwarding', login: t.login, node, addr: who.clientAddr });
      return;
    }
    try {
      upstream = await deps.upstream.connect({ target: t, identity: who, openAgent: conn.openAgent, keepAgent: forwardAgent });
    } catch (err) {
      refuse(channel, `tollgate: cannot connect to ${t.login}@${node}: ${(err as Error).message}`, 255);
      await deps.audit('session.rejected', who.user, { reason: (err as Error).message, login: t.login, node, addr: who.clientAddr });
      return;
    }
    const up = upstream;
    try {
      recording = await deps.recordings.start({
        user: who.user, login: t.login, node, clientAddr: who.clientAddr, kind, command: command ?? (subsystem ? `subsystem:${subsystem}` : null), pty: Boolean(pty), cols: pty?.cols ?? 80, rows: pty?.rows ?? 24, term: pty?.term,
      });
    } catch (err) {
      up.close();
      refuse(channel, `tollgate: ${(err as Error).message}`);
      await deps.audit('session.rejected', who.user, { reason: (err as Error).message, login: t.login, node, addr: who.clientAddr });
      return;
    }
    const rec = recording;
    const sessionLog = log.child({ sid: rec.id });
    sessionLog.info('session started', { component: 'proxy', login: t.login, node, kind, command: command ?? undefined });

    let stream: Ssh2.ClientChannel;
    let exitOf: () => { code: number | null; signal: string | null } | undefined;
    try {
      ({ stream, exit: exitOf } = await up.openSession({ kind, command, subsystem, pty, env, forwardAgent }));
    } catch (err) {
      up.close();
      refuse(channel, `tollgate: the node refused the session: ${(err as Error).message}`, 255);
      await rec.end({ exitStatus: null, exitSignal: null, reason: `node refused the session: ${(err as Error).message}` }).catch(() => {});
      return;
    }
    // A resize that arrived while the node was being dialled.
    if (pty) stream.setWindow(pty.rows, pty.cols, pty.height, pty.width);
    upstreamStream = stream;
    let exitStatus: number | null = null;
    let exitSignal: string | null = null;
    let ended = false;

    const finish = async (reason: string) => {
      if (ended) return;
      ended = true;
      up.close();
      try {
        await rec.end({ exitStatus, exitSignal, reason });
      } catch (err) {
        sessionLog.error('could not finish the recording', { component: 'proxy', error: (err as Error).message });
      }
      sessionLog.info('session ended', { component: 'proxy', reason, exit_status: exitStatus ?? undefined });
    };

    // Recording is mandatory: if it cannot be written any more, the session ends, with the reason.
    rec.onFailure((err) => {
      const code = (err as NodeJS.ErrnoException).code ?? err.message;
      sessionLog.error('recording failed; ending the session', { component: 'proxy', error: code });
      refuse(channel, `tollgate: the session recording failed (${code}); recording is mandatory, so the session ends`, 255);
      stream.close();
      void finish(`recording failed: ${code}`);
    });

    // Backpressure: a source pauses while its sink or the recording's disk writes are behind,
    // and resumes when both have caught up (memory stays bounded per stream).
    const relay = (src: NodeJS.ReadableStream, sink: NodeJS.WritableStream, record: (d: Buffer) => boolean) =>
      src.on('data', (data: Buffer) => {
        const recOk = record(data);
        const sinkOk = sink.write(data);
        if (recOk && sinkOk) return;
        src.pause();
        let waits = (recOk ? 0 : 1) + (sinkOk ? 0 : 1);
        const done = () => {
          if (--waits === 0) src.resume();
        };
        if (!sinkOk) sink.once('drain', done);
        if (!recOk) rec.onceDrained(done);
      });
    // Node → client, recorded.
    relay(stream, channel, (d) => rec.output(d));
    relay(stream.stderr, channel.stderr, (d) => rec.output(d));
    // Client → node, counted (and recorded with record_input).
    relay(channel, stream, (d) => rec.input(d));
    channel.on('end', () => stream.end());
    stream.on('close', () => {
      const exit = exitOf();
      exitStatus = exit?.code ?? null;
      exitSignal = exit?.signal ?? null;
      // Everything the node sent is written to the channel before the exit status and close.
      // The recording and the session index are complete before the client learns the exit
      // status, so "the command returned" always means "the recording is there".
      const done = () => {
        void finish('exit').then(() => {
          if (!channel.destroyed) {
            if (exitSignal) channel.exit(exitSignal.replace(/^SIG/, ''), false, '');
            else if (exitStatus !== null) channel.exit(exitStatus);
            channel.end();
          }
        });
      };
      // Writable runs write callbacks in order, so an empty write's callback means all is flushed
      // ('drain' fires only after a write returned false, so it cannot be waited for here).
      if (channel.destroyed) return done();
      channel.stderr.write(Buffer.alloc(0), () => channel.write(Buffer.alloc(0), done));
    });
    channel.on('close', () => {
      stream.close();
      void finish('client disconnected');
    });
    up.onLost((message) => {
      if (!channel.destroyed) refuse(channel, `tollgate: connection to ${node} lost: ${message}`, 255);
      void finish(`node connection lost: ${message}`);
    });
  }
}
