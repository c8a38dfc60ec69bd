import { afterEach, describe, expect, it, vi } from 'vitest';
import { AUTH_FAILURES_DETAILED_TOTAL, AuthFailureAudit, EventTally, MAX_STARTUPS, sourceKey, UnauthenticatedLimiter, type TallyReport } from '../../src/lib/proxy/connection-limits.js';
import { AUDIT_USER_MAX, boundAuditEvent, TRUNCATED_MARK } from '../../src/lib/audit/auditor.js';

describe('unauthenticated connection limits', () => {
  it('counts IPv4 per address, IPv4-mapped as IPv4, IPv6 per /64', () => {
    expect(sourceKey('192.0.2.7')).toBe('192.0.2.7');
    expect(sourceKey('::ffff:192.0.2.7')).toBe('192.0.2.7');
    expect(sourceKey('2001:db8:1:2:3:4:5:6')).toBe('2001:db8:1:2::/64');
    expect(sourceKey('2001:0db8:0001:0002::9')).toBe('2001:db8:1:2::/64');
    expect(sourceKey('2001:db8::1')).toBe('2001:db8:0:0::/64');
    expect(sourceKey('fe80::1%eth0')).toBe('fe80:0:0:0::/64');
    expect(sourceKey('::1')).toBe('0:0:0:0::/64');
    expect(sourceKey('64:ff9b::192.0.2.1')).toBe('64:ff9b:0:0::/64');
  });

  it('refuses past the per-source limit, then past the total; a released slot is free again', () => {
    const l = new UnauthenticatedLimiter({ total: 5, perSource: 2 });
    const a = [l.admit('10.0.0.1'), l.admit('10.0.0.1')];
    expect(a.every((x) => x.ok)).toBe(true);
    expect(l.admit('10.0.0.1')).toEqual({ ok: false, reason: 'source' });
    expect(l.admit('2001:db8::1').ok && l.admit('2001:db8::2').ok).toBe(true);
    expect(l.admit('2001:db8::3')).toEqual({ ok: false, reason: 'source' });
    expect(l.admit('10.0.0.2').ok).toBe(true);
    expect(l.admit('10.0.0.3')).toEqual({ ok: false, reason: 'total' });
    const first = a[0]!;
    if (!first.ok) throw new Error('unreachable');
    first.release();
    first.release();
    expect(l.count()).toBe(4);
    expect(l.count('10.0.0.1')).toBe(1);
    expect(l.admit('10.0.0.1').ok).toBe(true);
  });
});

describe('EventTally', () => {
  afterEach(() => vi.useRealTimers());

  it('reports the first event at once and then one summary per window', () => {
    vi.useFakeTimers();
    const reports: TallyReport[] = [];
    const t = new EventTally((r) => reports.push(r), 10_000);
    t.note('a');
    expect(reports).toEqual([{ count: 1, top: { a: 1 }, summary: 'a: 1' }]);
    for (let i = 0; i < 500; i++) t.note(i % 5 === 0 ? 'b' : 'a');
    expect(reports).toHaveLength(1);
    vi.advanceTimersByTime(10_000);
    expect(reports[1]).toEqual({ count: 500, top: { a: 400, b: 100 }, summary: 'a: 400, b: 100' });
    vi.advanceTimersByTime(10_000);
    expect(reports).toHaveLength(2);
    t.note('c');
    expect(reports).toHaveLength(3);
    t.note('c');
    t.close();
    expect(reports[3]).toMatchObject({ count: 1 });
  });

  it('remembers a bounded number of sources', () => {
    vi.useFakeTimers();
    const reports: TallyReport[] = [];
    const t = new EventTally((r) => reports.push(r), 10_000);
    t.note('first');
    for (let i = 0; i < 5000; i++) t.note(`10.0.${i >> 8}.${i & 255}`);
    t.close();
    expect(reports[1]!.count).toBe(5000);
    expect(reports[1]!.top.other).toBe(5000 - 1000);
    expect(Object.keys(reports[1]!.top)).toHaveLength(10);
  });
});

describe('MaxStartups random early drop and eviction', () => {
  it('past start, a source that already has connections is dropped with a probability rising from rate% to 100% at full', () => {
    let r = 0.5;
    const l = new UnauthenticatedLimiter({ total: 20, perSource: 20, start: 10, rate: 30 }, () => r);
    for (let i = 0; i < 10; i++) expect(l.admit('10.0.0.1').ok).toBe(true);
    // At 10 of 20: p = 30%. A draw of 0.5 passes, 0.2 is dropped.
    expect(l.admit('10.0.0.1').ok).toBe(true);
    r = 0.2;
    expect(l.admit('10.0.0.1')).toEqual({ ok: false, reason: 'drop' });
    // At 11 of 20: p = 30 + 70 / 10 = 37%.
    r = 0.36;
    expect(l.admit('10.0.0.1')).toEqual({ ok: false, reason: 'drop' });
    r = 0.38;
    expect(l.admit('10.0.0.1').ok).toBe(true);
    // A source with no connection is never dropped at random.
    r = 0;
    expect(l.admit('10.0.0.2').ok).toBe(true);
    expect(MAX_STARTUPS).toEqual({ start: 30, rate: 30, full: 100 });
  });

  it('at full, a new source takes the slot of the oldest connection of the source holding the most', () => {
    const l = new UnauthenticatedLimiter({ total: 4, perSource: 4, start: 4, rate: 100 });
    const closed: string[] = [];
    for (let i = 0; i < 3; i++) expect(l.admit('10.0.0.1', () => closed.push(`a${i}`)).ok).toBe(true);
    expect(l.admit('10.0.0.2', () => closed.push('b0')).ok).toBe(true);
    expect(l.admit('10.0.0.1')).toEqual({ ok: false, reason: 'total' });
    expect(l.admit('10.0.0.3', () => closed.push('c0')).ok).toBe(true);
    expect(closed).toEqual(['a0']);
    expect([l.count('10.0.0.1'), l.count('10.0.0.3'), l.count()]).toEqual([2, 1, 4]);
    expect(l.admit('10.0.0.4').ok).toBe(true);
    expect(closed).toEqual(['a0', 'a1']);
    // Every source down to one connection: nothing more to take.
    expect(l.admit('10.0.0.5')).toEqual({ ok: false, reason: 'total' });
  });
});

describe('bounded audit under attack', () => {
  afterEach(() => vi.useRealTimers());

  it('failed authentications: the first ten per source and window are written, the rest become one event with a count', () => {
    vi.useFakeTimers();
    const written: Array<[string | null, Record<string, unknown>]> = [];
    const a = new AuthFailureAudit((user, fields) => written.push([user, fields]), 10_000);
    for (let i = 0; i < 200; i++) a.note({ user: `u${i}-${'x'.repeat(30_000)}`, reason: 'bad certificate', method: 'publickey', addr: '10.0.0.9', hop: 'outer' });
    a.note({ user: 'joe', reason: 'bad', method: 'publickey', addr: '10.0.0.8', hop: 'outer' });
    expect(written).toHaveLength(11);
    vi.advanceTimersByTime(10_000);
    expect(written).toHaveLength(12);
    expect(written[11]![0]).toBeNull();
    expect(written[11]![1]).toMatchObject({ aggregated: true, count: 190, source: '10.0.0.9', reasons: ['bad certificate'] });
    expect((written[11]![1].users as string[]).every((u) => u.length === 64)).toBe(true);
    a.close();
  });

  it('a flood from many sources keeps to one budget of detailed events per window; the rest are counted', () => {
    vi.useFakeTimers();
    try {
      const written: [string | null, Record<string, unknown>][] = [];
      const a = new AuthFailureAudit((user, fields) => written.push([user, fields]), 10_000);
      for (let src = 0; src < 300; src++) {
        for (let i = 0; i < 3; i++) a.note({ user: 'u'.repeat(30_000), reason: `certificate does not allow "${'u'.repeat(30_000)}"`, method: 'publickey', addr: `2001:db8:${src.toString(16)}::1`, hop: 'outer' });
      }
      expect(written).toHaveLength(AUTH_FAILURES_DETAILED_TOTAL);
      expect(written.every(([u, f]) => (u ?? '').length <= 64 && String(f.reason).length <= 200)).toBe(true);
      vi.advanceTimersByTime(10_000);
      const summaries = written.slice(AUTH_FAILURES_DETAILED_TOTAL);
      expect(summaries.reduce((n, [, f]) => n + (f.count as number), 0)).toBe(900 - AUTH_FAILURES_DETAILED_TOTAL);
      a.close();
    } finally {
      vi.useRealTimers();
    }
  });

  it('the audit writer truncates user names and every client string, and says so', () => {
    const { user, fields } = boundAuditEvent('x'.repeat(30_000), { reason: 'y'.repeat(10_000), list: Array.from({ length: 500 }, (_, i) => i), ok: 1 });
    expect(user!.length).toBe(AUDIT_USER_MAX);
    expect(user!.endsWith(TRUNCATED_MARK)).toBe(true);
    expect((fields.reason as string).length).toBe(2048);
    expect((fields.list as number[]).length).toBe(64);
    expect(fields).toMatchObject({ ok: 1, truncated: true });
    expect(boundAuditEvent('joe', { a: 'b' })).toEqual({ user: 'joe', fields: { a: 'b' } });
    const many = boundAuditEvent(null, Object.fromEntries(Array.from({ length: 60 }, (_, i) => [`k${i}`, ['z'.repeat(2000)]])));
    expect(JSON.stringify(many.fields).length).toBeLessThan(16 * 1024);
  });
});
