import { formatDuration } from '../../duration.js';
import type { SessionTap } from './taps.js';

/** auth_service.client_idle_timeout and disconnect_expired_cert, as a session applies them. */
export interface SessionLimits {
  /** End a session with no input and no output for this long; 0 = never. */
  idleTimeoutMs: number;
  /** End a session when the certificate it was opened with expires. */
  disconnectExpiredCert: boolean;
}

export const NO_LIMITS: SessionLimits = { idleTimeoutMs: 0, disconnectExpiredCert: false };

/** Why a limit ended a session: the reason for the index and audit, and the client's line. */
export interface LimitReached {
  reason: string;
  line: string;
}

/**
 * Watches one session's limits. Activity is noted by a tap that only stamps the time (no timer
 * work per chunk); one timer per session wakes when the earliest limit could be reached and
 * re-arms itself if there was activity since. `stop()` clears it.
 */
export function watchLimits(o: {
  limits: SessionLimits;
  /** The certificate's valid-before, in Unix seconds. */
  certValidBefore: bigint;
  now(): number;
  onReached(r: LimitReached): void;
}): { tap: SessionTap; stop(): void } {
  let last = o.now();
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  const idle = o.limits.idleTimeoutMs;
  const expiresAt = o.limits.disconnectExpiredCert ? Number(o.certValidBefore) * 1000 : Infinity;

  const check = () => {
    timer = undefined;
    if (stopped) return;
    const now = o.now();
    if (now >= expiresAt) {
      return reach({
        reason: 'certificate expired',
        line: `tollgate: your certificate expired at ${new Date(expiresAt).toISOString()}; the session ends (disconnect_expired_cert); run tsh login`,
      });
    }
    if (idle > 0 && now - last >= idle) {
      return reach({ reason: `idle for ${formatDuration(idle)}`, line: `tollgate: the session was idle for ${formatDuration(idle)} (client_idle_timeout); closing it` });
    }
    arm(now);
  };
  const reach = (r: LimitReached) => {
    stopped = true;
    o.onReached(r);
  };
  const arm = (now: number) => {
    const next = Math.min(idle > 0 ? last + idle : Infinity, expiresAt);
    if (next === Infinity) return;
    // setTimeout takes at most 2^31-1 ms; a longer wait simply wakes and re-arms.
    timer = setTimeout(check, Math.min(Math.max(0, next - now), 2 ** 31 - 1));
    timer.unref();
  };
  arm(last);
  return {
    tap: {
      name: 'limits',
      write(e) {
        if (e.type === 'output' || e.type === 'input') last = o.now();
        return true;
      },
      onceDrained: (cb) => cb(),
      close: async () => undefined,
    },
    stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
    },
  };
}
