/*
 * Password login throttling that strangers cannot turn into a lock-out (issue 16):
 * - per source address (this process's memory): LOGIN_FREE_FAILURES failures in the window are
 *   free, then the address is refused without a password check for a delay that doubles with each
 *   further counted failure (1 min, 2, 4, 8...). One address therefore gets at most about nine
 *   checked guesses per window, whichever users it tries.
 * - per user (the store, shared by every daemon): USER_LOCK_AFTER failures in the window lock the
 *   user's *web* login for a delay that doubles with each further failure, up to USER_LOCK_MAX_MS.
 *   The threshold is above what one address can reach in a window, so a single stranger cannot lock
 *   a user out; only a spread of addresses can, and that lockout never touches SSH with a valid
 *   certificate (proxy authorization ignores it) and is cleared by `tctl users unlock`.
 * Every refusal gives the client the same message as a wrong password.
 */

/** The window in which failures are counted (per address and per user). */
export const LOGIN_FAILURE_WINDOW_MS = 15 * 60_000;
/** Failures from one address in a window before it is throttled. */
export const LOGIN_FREE_FAILURES = 5;
/** The first delay for a throttled address; each further counted failure doubles it. */
export const ADDRESS_DELAY_BASE_MS = 60_000;
export const ADDRESS_DELAY_MAX_MS = LOGIN_FAILURE_WINDOW_MS;
/** Failures for one user in a window (from any addresses) before its web login is locked. */
export const USER_LOCK_AFTER = 10;
export const USER_LOCK_BASE_MS = 60_000;
export const USER_LOCK_MAX_MS = 30 * 60_000;
/** Addresses remembered at once; the oldest are forgotten first (a spray of addresses costs bounded memory). */
export const THROTTLE_MAX_ADDRESSES = 10_000;

/** How long a user's web login stays locked after `failures` failures in the window (0: not locked). */
export function userLockMs(failures: number): number {
  if (failures < USER_LOCK_AFTER) return 0;
  return Math.min(USER_LOCK_BASE_MS * 2 ** Math.min(failures - USER_LOCK_AFTER, 30), USER_LOCK_MAX_MS);
}

interface AddressState {
  /** Times of the counted failures in the window, oldest first. */
  failures: number[];
  blockedUntil: number;
  /** Attempts being checked now (their outcome not known yet). */
  inFlight: number;
}

/** Per-source-address failure counts with growing delays (in memory, bounded). */
export class AddressThrottle {
  private readonly byAddr = new Map<string, AddressState>();

  /** Until when `addr` is refused without a check, or 0 when it may try now. */
  blockedUntil(addr: string, now: number): number {
    const s = this.byAddr.get(addr);
    return s && s.blockedUntil > now ? s.blockedUntil : 0;
  }

  /**
   * Starts a checked attempt from `addr`, or refuses it (false) when the address is blocked or
   * its attempts in flight could take it past its free failures: attempts for one user run one
   * at a time, but an address guessing many users at once would otherwise get every guess checked
   * before the first failure is counted. Every `true` must be followed by `end`.
   */
  begin(addr: string, now: number): boolean {
    if (this.blockedUntil(addr, now)) return false;
    const s = this.byAddr.get(addr);
    const recent = s ? s.failures.filter((t) => t > now - LOGIN_FAILURE_WINDOW_MS).length : 0;
    // Past the free failures (a block just ran out) one attempt at a time, as before the block.
    if (s && s.inFlight > 0 && recent + s.inFlight >= LOGIN_FREE_FAILURES) return false;
    const state = s ?? { failures: [], blockedUntil: 0, inFlight: 0 };
    state.inFlight++;
    if (!s) this.byAddr.set(addr, state);
    return true;
  }

  end(addr: string): void {
    const s = this.byAddr.get(addr);
    if (!s) return;
    if (s.inFlight > 0) s.inFlight--;
    // An address that only ever succeeded is not remembered.
    if (s.inFlight === 0 && s.failures.length === 0 && s.blockedUntil === 0) this.byAddr.delete(addr);
  }

  /** Counts a checked failure from `addr`; past the free ones, blocks it for a doubling delay. */
  fail(addr: string, now: number): void {
    const s = this.byAddr.get(addr) ?? { failures: [], blockedUntil: 0, inFlight: 0 };
    // Re-inserted so the map's order is by last failure: eviction drops the quietest address.
    this.byAddr.delete(addr);
    s.failures = s.failures.filter((t) => t > now - LOGIN_FAILURE_WINDOW_MS);
    s.failures.push(now);
    const over = s.failures.length - LOGIN_FREE_FAILURES;
    if (over >= 0) s.blockedUntil = now + Math.min(ADDRESS_DELAY_BASE_MS * 2 ** Math.min(over, 30), ADDRESS_DELAY_MAX_MS);
    this.byAddr.set(addr, s);
    this.evict();
  }

  /** Forgets the quietest addresses past THROTTLE_MAX_ADDRESSES (never one with attempts in flight). */
  private evict(): void {
    for (const [addr, st] of this.byAddr) {
      if (this.byAddr.size <= THROTTLE_MAX_ADDRESSES) return;
      if (st.inFlight === 0) this.byAddr.delete(addr);
    }
  }

  get size(): number {
    return this.byAddr.size;
  }
}
