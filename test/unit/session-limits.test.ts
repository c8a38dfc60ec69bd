import { afterEach, describe, expect, it, vi } from 'vitest';
import { watchLimits, type LimitReached } from '../../src/lib/proxy/session/index.js';

describe('watchLimits', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  const start = (o: { idleTimeoutMs?: number; disconnectExpiredCert?: boolean; validBefore?: bigint }) => {
    vi.useFakeTimers({ now: 1_000_000 });
    const reached: LimitReached[] = [];
    const w = watchLimits({
      limits: { idleTimeoutMs: o.idleTimeoutMs ?? 0, disconnectExpiredCert: o.disconnectExpiredCert ?? false },
      certValidBefore: o.validBefore ?? 10_000n,
      now: () => Date.now(),
      onReached: (r) => reached.push(r),
    });
    return { w, reached };
  };

  it('ends a session idle for the timeout, and not before', () => {
    const { reached } = start({ idleTimeoutMs: 3000 });
    vi.advanceTimersByTime(2999);
    expect(reached).toEqual([]);
    vi.advanceTimersByTime(1);
    expect(reached).toEqual([{ reason: 'idle for 3s', line: 'tollgate: the session was idle for 3s (client_idle_timeout); closing it' }]);
  });

  it('output or input restarts the idle clock; resizes do not', () => {
    const { w, reached } = start({ idleTimeoutMs: 3000 });
    vi.advanceTimersByTime(2000);
    w.tap.write({ type: 'output', data: Buffer.from('x') });
    vi.advanceTimersByTime(2000);
    w.tap.write({ type: 'input', data: Buffer.from('y') });
    w.tap.write({ type: 'resize', cols: 80, rows: 24 });
    vi.advanceTimersByTime(2999);
    expect(reached).toEqual([]);
    vi.advanceTimersByTime(1);
    expect(reached).toHaveLength(1);
  });

  it('ends a session when its certificate expires (disconnect_expired_cert), once', () => {
    const { reached } = start({ disconnectExpiredCert: true, validBefore: 1_060n }); // 60 s from now
    vi.advanceTimersByTime(59_999);
    expect(reached).toEqual([]);
    vi.advanceTimersByTime(1);
    expect(reached.map((r) => r.reason)).toEqual(['certificate expired']);
    expect(reached[0]!.line).toMatch(/^tollgate: your certificate expired at 1970-01-01T00:17:40\.000Z; the session ends \(disconnect_expired_cert\)/);
    vi.advanceTimersByTime(120_000);
    expect(reached).toHaveLength(1);
  });

  it('without limits nothing is armed; stop() disarms', () => {
    const none = start({});
    expect(vi.getTimerCount()).toBe(0);
    none.w.stop();
    const { w, reached } = start({ idleTimeoutMs: 1000 });
    w.stop();
    vi.advanceTimersByTime(5000);
    expect(reached).toEqual([]);
  });
});
