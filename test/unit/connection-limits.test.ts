import { afterEach, describe, expect, it, vi } from 'vitest';
import { EventTally, sourceKey, UnauthenticatedLimiter, type TallyReport } from '../../src/lib/proxy/connection-limits.js';

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
