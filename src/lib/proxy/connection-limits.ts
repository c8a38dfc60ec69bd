import net from 'node:net';

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

/** The source a connection is counted under: an IPv4 address (mapped or not), or an IPv6 /64. */
export function sourceKey(addr: string): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(addr);
  if (mapped) return mapped[1]!;
  const bare = addr.replace(/%.*$/, '');
  if (net.isIPv6(bare)) return `${ipv6Groups(bare).slice(0, 4).join(':')}::/64`;
  return addr;
}

/** The eight 16-bit groups of an IPv6 address, in lower-case hex without leading zeros. */
function ipv6Groups(addr: string): string[] {
  const split = (s: string) => (s ? s.split(':') : []).flatMap((g) => (g.includes('.') ? ['0', '0'] : [g]));
  const [head, tail] = addr.split('::') as [string, string | undefined];
  const h = split(head);
  const t = tail === undefined ? [] : split(tail);
  const groups = [...h, ...Array<string>(Math.max(0, 8 - h.length - t.length)).fill('0'), ...t];
  return groups.map((g) => parseInt(g, 16).toString(16));
}

export type Admission = { ok: true; release: () => void } | { ok: false; reason: 'total' | 'source' };

/** Counts unauthenticated connections, in total and per source, and refuses past the limits. */
export class UnauthenticatedLimiter {
  private total = 0;
  private readonly bySource = new Map<string, number>();

  constructor(readonly limits: { total: number; perSource: number } = { total: MAX_UNAUTHENTICATED, perSource: MAX_UNAUTHENTICATED_PER_SOURCE }) {}

  /** Takes a slot for a connection from `addr`, or says which limit refuses it. `release` is idempotent. */
  admit(addr: string): Admission {
    const key = sourceKey(addr);
    const mine = this.bySource.get(key) ?? 0;
    if (this.total >= this.limits.total) return { ok: false, reason: 'total' };
    if (mine >= this.limits.perSource) return { ok: false, reason: 'source' };
    this.total++;
    this.bySource.set(key, mine + 1);
    let released = false;
    return {
      ok: true,
      release: () => {
        if (released) return;
        released = true;
        this.total--;
        const left = (this.bySource.get(key) ?? 1) - 1;
        if (left > 0) this.bySource.set(key, left);
        else this.bySource.delete(key);
      },
    };
  }

  /** Unauthenticated connections now (from `addr`'s source when given). */
  count(addr?: string): number {
    return addr === undefined ? this.total : (this.bySource.get(sourceKey(addr)) ?? 0);
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
