import type { Logger } from '../../log.js';
import type { LiveSessionControls, LiveTap, SessionEnd, TapEvent } from '../session/index.js';
import { inThreadLiveScreens, type LiveScreen, type LiveScreenFactory } from './screen-host.js';

/** How someone other than the session's own client takes part in it. */
export type JoinMode = 'observer' | 'peer';

export interface Participant {
  user: string;
  mode: JoinMode;
  joinedAt: number;
}

/** What `tsh sessions ls` and `tctl sessions ls --active` show of one running session. */
export interface LiveSessionInfo {
  id: string;
  user: string;
  login: string;
  node: string;
  kind: string;
  startedAt: number;
  /** Last output or input (idle time is now minus this). */
  lastActivity: number;
  participants: Participant[];
}

export type { LiveSessionControls };

/** One attached observer or peer, as the registry drives it (join.ts implements it on an SSH channel). */
export interface Viewer {
  readonly user: string;
  readonly mode: JoinMode;
  /** The current screen, first (PTY sessions; nothing for others). */
  paint(p: { cols: number; rows: number; paint: string }): void;
  /** Output and resizes from then on. */
  event(e: TapEvent): void;
  /** A status line about other participants. */
  status(line: string): void;
  /** The session is over (or the viewer was dropped): tell them why and disconnect. */
  end(line: string): void;
}

export interface LiveSessionsOptions {
  log: Logger;
  now(): number;
  /** At most this many observers and peers per session (proxy_service.max_session_observers). */
  maxViewers: number;
  /** Where PTY sessions' screens are emulated: the live screen worker (runtime.ts), else this thread. */
  screens?: LiveScreenFactory;
}

export const DEFAULT_MAX_VIEWERS = 16;

/** The line every participant sees when a session is ended with tctl sessions end. */
export function endedByAdminLine(message: string): string {
  return `tollgate: the session was ended by an administrator${message ? `: ${message}` : ''}`;
}

/**
 * One running session as the live registry keeps it: its metadata, the terminal state of a PTY
 * session (a LiveScreen, kept in the live screen worker when the daemon runs one), and the
 * viewers attached to it. It is also the session's `live` optional tap: deliver() never waits (the screen and each viewer buffer on their own, bounded),
 * so the tap itself does not fall behind the relay.
 */
export class LiveSession implements LiveTap {
  readonly name = 'live';
  readonly info: LiveSessionInfo;
  private readonly screen: LiveScreen | undefined;
  /** Set when the screen's emulator was lost: the live view ended, the session goes on. */
  private lostLine: string | undefined;
  private readonly viewers = new Set<Viewer>();
  /** Viewers waiting for their paint: events after their join point are held for them. */
  private readonly pending = new Map<Viewer, TapEvent[]>();
  private controls: LiveSessionControls | undefined;
  private endLine: string | undefined;
  private over = false;

  constructor(
    meta: Omit<LiveSessionInfo, 'lastActivity' | 'participants'> & { pty?: { cols: number; rows: number } },
    private readonly o: LiveSessionsOptions,
  ) {
    const { pty, ...rest } = meta;
    this.info = { ...rest, lastActivity: meta.startedAt, participants: [] };
    const screens = o.screens ?? inThreadLiveScreens;
    this.screen = pty ? screens({ cols: pty.cols, rows: pty.rows, onLost: (reason) => this.lost(reason) }) : undefined;
  }

  get ended(): boolean {
    return this.over;
  }

  started(controls: LiveSessionControls): void {
    this.controls = controls;
  }

  deliver(events: readonly TapEvent[]): void {
    this.info.lastActivity = this.o.now();
    for (const e of events) {
      if (e.type === 'output') this.screen?.output(e.data);
      else if (e.type === 'resize') this.screen?.resize(e.cols, e.rows);
      if (e.type !== 'output' && e.type !== 'resize') continue;
      for (const held of this.pending.values()) held.push(e);
      for (const v of this.viewers) if (!this.pending.has(v)) v.event(e);
    }
  }

  close(end: SessionEnd): void {
    if (this.over) return;
    this.over = true;
    const line = this.endLine ?? (end.reason.startsWith('tap dropped') ? `tollgate: live view lost (${end.reason})` : `tollgate: the session ended (${end.reason})`);
    for (const v of [...this.viewers]) v.end(line);
    this.viewers.clear();
    this.pending.clear();
    this.screen?.dispose();
  }

  /**
   * Attaches a viewer: it is painted the current screen, then gets every event after its join
   * point, in order. Refused (with the reason) when the session is over or full.
   */
  async attach(v: Viewer): Promise<{ detach(): void; input(data: Buffer): void } | string> {
    if (this.over) return 'the session has ended';
    if (this.lostLine) return this.lostLine;
    if (this.o.maxViewers === 0) return 'joining sessions is turned off on this proxy (proxy_service.max_session_observers: 0)';
    if (this.viewers.size >= this.o.maxViewers) return `the session already has ${this.o.maxViewers} participants (proxy_service.max_session_observers)`;
    this.viewers.add(v);
    this.pending.set(v, []);
    const participant: Participant = { user: v.user, mode: v.mode, joinedAt: this.o.now() };
    this.info.participants.push(participant);
    const announce = `${v.user} joined as ${v.mode}`;
    this.broadcast(announce, v);
    // The snapshot covers exactly what was delivered before this point; later events are held.
    const snap = this.screen ? await this.screen.snapshot().catch(() => undefined) : undefined;
    if (this.over || !this.viewers.has(v)) return this.lostLine ?? 'the session has ended';
    if (snap) v.paint(snap);
    for (const e of this.pending.get(v) ?? []) v.event(e);
    this.pending.delete(v);
    let detached = false;
    return {
      detach: () => {
        if (detached) return;
        detached = true;
        this.viewers.delete(v);
        this.pending.delete(v);
        const i = this.info.participants.indexOf(participant);
        if (i >= 0) this.info.participants.splice(i, 1);
        if (!this.over) this.broadcast(`${v.user} left`, v);
      },
      input: (data) => {
        // Observers' keys never reach the session, whatever their client sends.
        if (detached || this.over || v.mode !== 'peer') return;
        this.controls?.input(data, v.user);
      },
    };
  }

  /** Ends the session with `message` for every participant (tctl sessions end). */
  end(message: string, by: string): boolean {
    if (this.over || !this.controls) return false;
    this.endLine = endedByAdminLine(message);
    this.controls.stop(`ended by ${by}${message ? `: ${message}` : ''}`, this.endLine);
    return true;
  }

  /** The screen's emulator is gone (its worker died): every viewer is told and let go; nobody can join again. */
  private lost(reason: string): void {
    if (this.over || this.lostLine) return;
    this.lostLine = `tollgate: live view lost (${reason}); the session goes on`;
    const viewers = [...this.viewers];
    this.viewers.clear();
    this.pending.clear();
    this.info.participants.length = 0;
    for (const v of viewers) v.end(this.lostLine);
    this.o.log.warn('the live view of a session was lost', { component: 'live', sid: this.info.id, reason });
  }

  private broadcast(line: string, except: Viewer): void {
    this.controls?.notify(line);
    for (const v of this.viewers) if (v !== except) v.status(line);
    this.o.log.info(line, { component: 'live', sid: this.info.id });
  }
}

/**
 * The proxy's registry of running sessions: what `sessions ls --active` lists, what `tsh join`
 * attaches to and what `tctl sessions end` stops. A session is in it from the start of its relay
 * to its end (the pipeline registers it; the relay's end removes it).
 */
export class LiveSessions {
  private readonly sessions = new Map<string, LiveSession>();

  constructor(private readonly o: LiveSessionsOptions) {}

  /** A new session: its live tap, to add to the session's taps. */
  begin(meta: ConstructorParameters<typeof LiveSession>[0]): LiveSession {
    const s = new LiveSession(meta, this.o);
    this.sessions.set(meta.id, s);
    return s;
  }

  remove(id: string): void {
    this.sessions.delete(id);
  }

  get(id: string): LiveSession | undefined {
    const s = this.sessions.get(id);
    return s && !s.ended ? s : undefined;
  }

  list(): LiveSessionInfo[] {
    return [...this.sessions.values()].filter((s) => !s.ended).map((s) => ({ ...s.info, participants: [...s.info.participants] }));
  }

  get size(): number {
    return this.sessions.size;
  }
}
