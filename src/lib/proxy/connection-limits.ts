import { sourceKey } from '../address.js';

export { sourceKey };

/*
 * Limits on SSH connections that have not authenticated yet, as OpenSSH's MaxStartups and
 * PerSourceMaxStartups. Until a client authenticates it costs the proxy a socket, a key exchange
 * and a grace timer while proving nothing, so how many such connections exist at once is bounded
 * in total and per source.
 */

/**
 * Unauthenticated connections at once, from everywhere: OpenSSH's MaxStartups hard limit
 * (10:30:100 refuses everything past 100). A legitimate client is unauthenticated for the few
 * milliseconds of its handshake, so even a busy proxy is far below this.
 */
export const MAX_UNAUTHENTICATED = 100;

/**
 * Unauthenticated connections at once from one source (an IPv4 address, an IPv6 /64): a fifth of
 * the total, so one host alone cannot take every slot and lock everyone else out, yet twice the
 * number at which OpenSSH's default MaxStartups (10:30:100) starts dropping, so automation that
 * opens many connections at once from one host (ansible forks, a CI runner behind NAT) still gets
 * in. IPv6 is counted per /64 because one attacker usually holds a whole /64.
 */
export const MAX_UNAUTHENTICATED_PER_SOURCE = 20;

/**
 * OpenSSH's MaxStartups `start:rate:full` (sshd_config(5)): past `start` unauthenticated
 * connections a new one is refused with probability `rate`%, rising linearly to 100% at `full`.
 * Start is above the default 10 so that automation opening tens of connections at once from one
 * host is rarely dropped; full is MAX_UNAUTHENTICATED.
 */
export const MAX_STARTUPS = { start: 30, rate: 30, full: MAX_UNAUTHENTICATED } as const;

export type Admission = { ok: true; release: () => void } | { ok: false; reason: 'total' | 'source' | 'drop' };

interface Slot {
  key: string;
  /** Closes the connection to make room for a source that has none (see admit). */
  evict?: () => void;
}

export interface LimiterOptions {
  /** MaxStartups' full: nothing past it (but see the eviction in admit). */
  total: number;
  perSource: number;
  /** MaxStartups' start and rate; without them, no random early drop. */
  start?: number;
  rate?: number;
}

/**
 * Counts unauthenticated connections, in total and per source, and refuses past the limits:
 * per source a hard cap (PerSourceMaxStartups); in total OpenSSH's random early drop. Unlike
 * OpenSSH, a source with no unauthenticated connection is never dropped at random, and at `full`
 * it takes the slot of the oldest connection of the source holding the most (when that source
 * holds more than one): a few hosts keeping connections half-open cannot starve everyone else.
 */
export class UnauthenticatedLimiter {
  private total = 0;
  /** Each source's slots, oldest first. */
  private readonly bySource = new Map<string, Set<Slot>>();

  constructor(
    readonly limits: LimiterOptions = { total: MAX_UNAUTHENTICATED, perSource: MAX_UNAUTHENTICATED_PER_SOURCE, start: MAX_STARTUPS.start, rate: MAX_STARTUPS.rate },
    private readonly random: () => number = Math.random,
  ) {}

  /** Takes a slot for a connection from `addr`, or says which limit refuses it. `release` is idempotent. */
  admit(addr: string, evict?: () => void): Admission {
    const key = sourceKey(addr);
    const mine = this.bySource.get(key)?.size ?? 0;
    if (mine >= this.limits.perSource) return { ok: false, reason: 'source' };
    if (this.total >= this.limits.total) {
      if (mine > 0 || !this.evictOne()) return { ok: false, reason: 'total' };
    } else if (mine > 0 && this.limits.start !== undefined && this.total >= this.limits.start) {
      const span = Math.max(1, this.limits.total - this.limits.start);
      const rate = this.limits.rate ?? 100;
      const p = rate + ((100 - rate) * (this.total - this.limits.start)) / span;
      if (this.random() * 100 < p) return { ok: false, reason: 'drop' };
    }
    const slot: Slot = { key, ...(evict ? { evict } : {}) };
    const set = this.bySource.get(key) ?? new Set<Slot>();
    set.add(slot);
    this.bySource.set(key, set);
    this.total++;
    let released = false;
    return {
      ok: true,
      release: () => {
        if (released) return;
        released = true;
        this.remove(slot);
      },
    };
  }

  /** Unauthenticated connections now (from `addr`'s source when given). */
  count(addr?: string): number {
    return addr === undefined ? this.total : (this.bySource.get(sourceKey(addr))?.size ?? 0);
  }

  private remove(slot: Slot): void {
    const set = this.bySource.get(slot.key);
    if (!set?.delete(slot)) return;
    this.total--;
    if (set.size === 0) this.bySource.delete(slot.key);
  }

  /** Frees the oldest evictable slot of the source holding the most, if it holds more than one. */
  private evictOne(): boolean {
    let biggest: Set<Slot> | undefined;
    for (const set of this.bySource.values()) if (!biggest || set.size > biggest.size) biggest = set;
    if (!biggest || biggest.size < 2) return false;
    for (const slot of biggest) {
      if (!slot.evict) continue;
      this.remove(slot);
      slot.evict();
      return true;
    }
    return false;
  }
}

/** One report of a tally: how many in the window and the sources that caused most of them. */
export interface TallyReport {
  count: number;
  /** Up to ten sources, most frequent first. */
  top: Record<string, number>;
  /** `source: 12` style, for a log line. */
  summary: string;
}

/** Distinct sources remembered per window; past this, new ones are counted as "other". */
const TALLY_MAX_SOURCES = 1000;

/**
 * Reports a noisy event (refused connections, expired grace periods) at most once per window:
 * the first occurrence at once, then one summary per window while they continue, so a flood
 * becomes a few log lines and audit events, not one per connection.
 */
export class EventTally {
  private count = 0;
  private sources = new Map<string, number>();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly report: (r: TallyReport) => void,
    private readonly windowMs = 10_000,
  ) {}

  note(source: string): void {
    const key = this.sources.has(source) || this.sources.size < TALLY_MAX_SOURCES ? source : 'other';
    this.sources.set(key, (this.sources.get(key) ?? 0) + 1);
    this.count++;
    if (!this.timer) this.flush();
  }

  /** Stops the window timer; what is pending is reported now. */
  close(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    if (this.count > 0) this.emit();
  }

  private flush(): void {
    this.timer = undefined;
    if (this.count === 0) return;
    this.emit();
    this.timer = setTimeout(() => this.flush(), this.windowMs);
    this.timer.unref();
  }

  private emit(): void {
    const top = Object.fromEntries([...this.sources].sort((a, b) => b[1] - a[1]).slice(0, 10));
    const summary = Object.entries(top)
      .map(([s, n]) => `${s}: ${n}`)
      .join(', ');
    const r = { count: this.count, top, summary };
    this.count = 0;
    this.sources = new Map();
    this.report(r);
  }
}

/** Failed authentications from one source written one by one per window; past that, counted. */
export const AUTH_FAILURES_DETAILED_PER_WINDOW = 10;
/** The aggregation window for failed authentications (as EventTally's). */
export const AUTH_FAILURE_WINDOW_MS = 10_000;
/** Distinct sources tracked per window; past it, new ones share the "other" entry. */
const AUTH_FAILURE_MAX_SOURCES = 1000;
/** Distinct user names and reasons kept as a sample in an aggregated event. */
const AUTH_FAILURE_SAMPLES = 5;
/** Sampled user names are cut to this (the audit writer bounds every string again). */
const SAMPLE_CHARS = 64;

export interface AuthFailure {
  user: string;
  reason: string;
  method: string;
  addr: string;
  hop: string;
}

interface SourceWindow {
  detailed: number;
  /** Failures past the detailed ones, not yet reported. */
  count: number;
  users: Set<string>;
  reasons: Set<string>;
}

/**
 * Audits failed SSH authentications so that a flood costs a bounded amount of audit data: per
 * source and window, the first AUTH_FAILURES_DETAILED_PER_WINDOW are written as they happen
 * (a client's one connection, MAX_AUTH_TRIES, is fully audited), the rest become one `auth` event
 * per source at the end of the window with their `count` and a sample of user names and reasons.
 */
/**
 * Detailed failure events per window from all sources together: the audit log's budget under a
 * flood from many addresses (an IPv6 range has endless ones); past it, failures are only counted
 * in their source's summary event.
 */
export const AUTH_FAILURES_DETAILED_TOTAL = 100;
/** A client-chosen string in a failure event (the user name is in the reason too) is cut to this. */
const REASON_CHARS = 200;

export class AuthFailureAudit {
  private sources = new Map<string, SourceWindow>();
  private detailedTotal = 0;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly write: (user: string | null, fields: Record<string, unknown>) => void,
    private readonly windowMs = AUTH_FAILURE_WINDOW_MS,
  ) {}

  note(f: AuthFailure): void {
    const source = sourceKey(f.addr);
    const key = this.sources.has(source) || this.sources.size < AUTH_FAILURE_MAX_SOURCES ? source : 'other';
    let w = this.sources.get(key);
    if (!w) {
      w = { detailed: 0, count: 0, users: new Set(), reasons: new Set() };
      this.sources.set(key, w);
    }
    if (!this.timer) {
      this.timer = setTimeout(() => this.flush(), this.windowMs);
      this.timer.unref();
    }
    if (w.detailed < AUTH_FAILURES_DETAILED_PER_WINDOW && this.detailedTotal < AUTH_FAILURES_DETAILED_TOTAL) {
      w.detailed++;
      this.detailedTotal++;
      this.write(f.user.slice(0, SAMPLE_CHARS), { reason: f.reason.slice(0, REASON_CHARS), method: f.method, addr: f.addr, hop: f.hop });
      return;
    }
    w.count++;
    if (w.users.size < AUTH_FAILURE_SAMPLES) w.users.add(f.user.slice(0, SAMPLE_CHARS));
    if (w.reasons.size < AUTH_FAILURE_SAMPLES) w.reasons.add(f.reason.slice(0, REASON_CHARS));
  }

  /** Reports what is pending now and stops the timer. */
  close(): void {
    clearTimeout(this.timer);
    this.flush();
  }

  private flush(): void {
    this.timer = undefined;
    this.detailedTotal = 0;
    const sources = this.sources;
    this.sources = new Map();
    for (const [source, w] of sources) {
      if (w.count === 0) continue;
      const users = [...w.users];
      this.write(users.length === 1 ? users[0]! : null, {
        reason: `${w.count} more failed authentications from ${source} in ${this.windowMs / 1000} s`,
        aggregated: true,
        count: w.count,
        source,
        users,
        reasons: [...w.reasons],
      });
    }
  }
}
