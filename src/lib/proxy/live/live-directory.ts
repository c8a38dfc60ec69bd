import { AuditEvents, type Auditor } from '../../audit/index.js';
import { accessDenied, conflict, notFound } from '../../errors.js';
import { isUuid } from '../../ids.js';
import type { Logger } from '../../log.js';
import type { SessionRecord, Store, UserRecord } from '../../store/index.js';
import { matchingLock } from '../session/index.js';
import { joinRefusal } from './join.js';
import type { LiveSessionInfo, LiveSessions } from './live-sessions.js';
import { followShipped } from './shipped-follower.js';

/** A web viewer of a running session (the browser's player over server-sent events). */
export interface WatchSink {
  /** The current screen: a terminal of this size, painted by `init`. */
  reset(cols: number, rows: number, init: string): void;
  output(text: string): void;
  resize(cols: number, rows: number): void;
  /** The session is over, or the viewer was dropped. */
  end(line: string): void;
}

/** How often a daemon looks for `tctl sessions end` requests addressed to its sessions. */
export const END_POLL_MS = 1_000;
/** How long `tctl sessions end` for another daemon's session waits to see it ended. */
export const REMOTE_END_WAIT_MS = 3_000;

/** A running session as the APIs list it (the wire form is api's liveSessionJson). */
export interface ActiveSession {
  id: string;
  user: string;
  login: string;
  node: string;
  kind: string;
  started_at: string;
  last_activity: string;
  idle_seconds: number;
  participants: Array<{ user: string; mode: 'observer' | 'peer' }>;
  local: boolean;
}

function toJson(s: LiveSessionInfo, now: number): ActiveSession {
  return {
    id: s.id,
    user: s.user,
    login: s.login,
    node: s.node,
    kind: s.kind,
    started_at: new Date(s.startedAt).toISOString(),
    last_activity: new Date(s.lastActivity).toISOString(),
    idle_seconds: Math.max(0, Math.floor((now - s.lastActivity) / 1000)),
    participants: s.participants.map((p) => ({ user: p.user, mode: p.mode })),
    local: true,
  };
}

/** Another daemon's session, as the shared session index knows it (no activity or participants there). */
function remoteJson(s: SessionRecord, now: number): ActiveSession {
  const started = new Date(s.startedAt).toISOString();
  return { id: s.id, user: s.user, login: s.login, node: s.node, kind: s.kind, started_at: started, last_activity: started, idle_seconds: Math.max(0, Math.floor((now - s.startedAt) / 1000)), participants: [], local: false };
}

/**
 * The cluster's running sessions, for the APIs: this daemon's from its registry (with activity
 * and participants), other daemons' from the shared session index (sessions not ended, recorded
 * by another server id). Ending another daemon's session goes through the store
 * (live_session_ends): each daemon polls it every END_POLL_MS for its own sessions, so the
 * daemons need no connection to each other.
 */
export class LiveDirectory {
  private timer: NodeJS.Timeout | undefined;
  private polling = false;

  constructor(
    private readonly o: {
      live: LiveSessions;
      store: Store;
      serverId: string;
      now(): number;
      log: Logger;
      auditor: Auditor;
      pollMs?: number;
      followRemote?: boolean;
      /** Where other daemons' running recordings are read: the store's shipped chunks, unless given (sibling workers' local files). */
      chunks?: Pick<Store, 'readRecordingChunks'>;
    },
  ) {}

  /** What followShipped reads another daemon's running session from (web watch, tsh join). */
  get shipped(): Pick<Store, 'readRecordingChunks' | 'getSession'> {
    const chunks = this.o.chunks;
    if (!chunks) return this.o.store;
    return { readRecordingChunks: (...a) => chunks.readRecordingChunks(...a), getSession: (id) => this.o.store.getSession(id) };
  }

  start(): void {
    this.timer = setInterval(() => void this.poll(), this.o.pollMs ?? END_POLL_MS);
    this.timer.unref();
  }

  close(): void {
    clearInterval(this.timer);
  }

  async list(): Promise<ActiveSession[]> {
    const now = this.o.now();
    const local = this.o.live.list().map((s) => toJson(s, now));
    const mine = new Set(local.map((s) => s.id));
    const open = await this.o.store.listSessions({ open: true, limit: 1000 });
    const remote = open.filter((s) => !mine.has(s.id) && s.serverId && s.serverId !== this.o.serverId).map((s) => remoteJson(s, now));
    return [...local, ...remote].sort((a, b) => b.started_at.localeCompare(a.started_at));
  }

  /** A running session of another daemon (undefined when it is local, ended or unknown). */
  async remote(id: string): Promise<SessionRecord | undefined> {
    if (!isUuid(id) || this.o.live.get(id)) return undefined;
    const s = await this.o.store.getSession(id);
    return s && s.endedAt === null && s.serverId && s.serverId !== this.o.serverId ? s : undefined;
  }

  /** tctl sessions end: at once when local; through the store, waited for, when another daemon relays it. */
  async end(id: string, message: string, by: string): Promise<{ id: string; ended: boolean; where: 'local' | 'remote' }> {
    const local = this.o.live.get(id);
    if (local) return { id, ended: local.end(message, by), where: 'local' };
    const s = isUuid(id) ? await this.o.store.getSession(id) : undefined;
    if (!s) throw notFound(`no session with id ${id}`, 'see tctl sessions ls --active');
    if (s.endedAt !== null) throw conflict(`session ${id} has already ended (${s.endReason ?? 'ended'})`, 'see tctl sessions ls --active');
    await this.o.store.requestSessionEnd({ sessionId: id, message, requestedBy: by, requestedAt: this.o.now() });
    const deadline = Date.now() + REMOTE_END_WAIT_MS;
    while (Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 200));
      if ((await this.o.store.getSession(id))?.endedAt != null) return { id, ended: true, where: 'remote' };
    }
    return { id, ended: false, where: 'remote' };
  }

  /**
   * The web live view: `user` watches session `id` as an observer (the same rule as tsh join,
   * joinRefusal; refusals audited as session.access_denied, joins as session.join/leave). A
   * session of another daemon is followed through its shipped recording.
   */
  async watch(id: string, user: UserRecord, addr: string, sink: WatchSink): Promise<{ stop(): void }> {
    const local = this.o.live.get(id);
    const remote = local || !this.o.followRemote ? undefined : await this.remote(id);
    const owner = local?.info.user ?? remote?.user;
    if (!owner) throw notFound(`no running session ${id}`, 'it may have ended: see its recording');
    const refusal = joinRefusal(user, owner, 'observer');
    if (refusal) {
      await this.o.auditor.record(AuditEvents.sessionAccessDenied, user.name, { what: `watch session ${id}`, sid: id, owner, addr, reason: refusal });
      throw accessDenied(`access denied: ${refusal}`, "ask for the auditor role to watch other users' sessions");
    }
    const fields = { sid: id, owner, mode: 'observer', addr, via: 'web' };
    await this.o.auditor.record(AuditEvents.sessionJoin, user.name, fields);
    let left = false;
    const leave = () => {
      if (left) return;
      left = true;
      this.o.auditor.emit(AuditEvents.sessionLeave, user.name, fields);
    };
    if (remote) {
      const there = await this.watchElsewhere(remote, user.name, sink).catch(() => undefined);
      if (there) return { stop: () => (there.stop(), leave()) };
      const f = followShipped(this.shipped, remote, {
        paint: (p) => sink.reset(p.cols, p.rows, p.paint),
        output: (t) => sink.output(t),
        resize: (c, r) => sink.resize(c, r),
        end: (reason) => sink.end(reason.startsWith('ended by') ? `tollgate: the session was ${reason}` : `tollgate: the session ended (${reason})`),
      });
      return { stop: () => (f.stop(), leave()) };
    }
    const decoder = new TextDecoder('utf-8');
    const attached = await local!.attach({
      user: user.name,
      mode: 'observer',
      paint: (p) => sink.reset(p.cols, p.rows, p.paint),
      event: (e) => {
        if (e.type === 'output') sink.output(decoder.decode(e.data, { stream: true }));
        else if (e.type === 'resize') sink.resize(e.cols, e.rows);
      },
      status: (line) => sink.output(`\r\n[tollgate] ${line}\r\n`),
      end: (line) => sink.end(line),
    });
    if (typeof attached === 'string') {
      leave();
      throw conflict(`cannot watch session ${id}: ${attached}`);
    }
    return { stop: () => (attached.detach(), leave()) };
  }

  /**
   * A web viewer attached in the process that relays `session` (a sibling SSH worker), as its
   * own viewers are; undefined when that cannot be done (the recording is followed instead).
   */
  protected async watchElsewhere(_session: SessionRecord, _user: string, _sink: WatchSink): Promise<{ stop(): void } | undefined> {
    return undefined;
  }

  /**
   * Ends this daemon's running sessions that a lock in force names (user, login, node or
   * session id), with the lock's message. Every daemon runs it on each poll, so a lock created
   * anywhere ends matching sessions everywhere within END_POLL_MS; the admin API also runs it at
   * once after `tctl lock`.
   */
  async enforceLocks(): Promise<void> {
    const running = this.o.live.list();
    if (running.length === 0) return;
    const now = this.o.now();
    const locks = await this.o.store.listLocks(now);
    if (locks.length === 0) return;
    for (const s of running) {
      const lock = matchingLock(locks, { user: s.user, login: s.login, node: s.node, sessionId: s.id }, now);
      if (!lock) continue;
      this.o.log.info('ending a locked session', { component: 'live', sid: s.id, lock: lock.id });
      this.o.live.get(s.id)?.end(lock.message || 'locked', `lock ${lock.id} (${lock.kind}=${lock.target})`);
    }
  }

  /**
   * Ends every running session of `user` (deleted or reset): this daemon's at once, other
   * daemons' through the store's end requests. Returns how many were asked to end.
   */
  async endUserSessions(user: string, message: string, by: string): Promise<number> {
    let n = 0;
    for (const s of this.o.live.list()) if (s.user === user && this.o.live.get(s.id)?.end(message, by)) n++;
    const open = await this.o.store.listSessions({ user, open: true, limit: 1000 });
    for (const s of open) {
      if (!s.serverId || s.serverId === this.o.serverId) continue;
      await this.o.store.requestSessionEnd({ sessionId: s.id, message, requestedBy: by, requestedAt: this.o.now() });
      n++;
    }
    return n;
  }

  private async poll(): Promise<void> {
    if (this.polling) return;
    this.polling = true;
    try {
      const ids = this.o.live.list().map((s) => s.id);
      for (const r of await this.o.store.takeSessionEndRequests(ids)) {
        this.o.log.info('ending a session on request', { component: 'live', sid: r.sessionId, by: r.requestedBy });
        this.o.live.get(r.sessionId)?.end(r.message, r.requestedBy);
      }
      await this.enforceLocks();
    } catch (err) {
      this.o.log.warn('cannot read session end requests or locks', { component: 'live', error: (err as Error).message });
    } finally {
      this.polling = false;
    }
  }
}
