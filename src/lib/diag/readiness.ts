import fs from 'node:fs';
import path from 'node:path';
import { settlesWithin } from '../within.js';

/** One part /readyz asks about: resolves when it is fine, throws with what is wrong. */
export interface ReadinessCheck {
  readonly name: string;
  check(): Promise<void> | void;
}

export interface ReadinessReport {
  ready: boolean;
  /** Each check's verdict: `ok`, or what is wrong. */
  checks: Record<string, string>;
}

/** A check that does not answer within this is failing (a hung store is not a ready store). */
export const CHECK_TIMEOUT_MS = 2_000;

/** Runs every check at once, each bounded by CHECK_TIMEOUT_MS. */
export async function runChecks(checks: readonly ReadinessCheck[], timeoutMs = CHECK_TIMEOUT_MS): Promise<ReadinessReport> {
  const results = await Promise.all(
    checks.map(async (c): Promise<[string, string]> => {
      try {
        if (!(await settlesWithin(Promise.resolve().then(() => c.check()), timeoutMs))) return [c.name, `no answer within ${timeoutMs} ms`];
        return [c.name, 'ok'];
      } catch (err) {
        return [c.name, (err as Error).message || String(err)];
      }
    }),
  );
  return { ready: results.every(([, v]) => v === 'ok'), checks: Object.fromEntries(results) };
}

/**
 * The recordings directory can take a new file: a probe file is created and removed. A directory
 * whose owner write bit is off counts as read-only even when the daemon runs as root (root's
 * writes would succeed, but the operator has said "read-only", and the same daemon under its
 * systemd user would fail every session).
 */
export function writableDirCheck(name: string, dir: () => string): ReadinessCheck {
  return {
    name,
    async check() {
      const d = dir();
      let st: fs.Stats;
      try {
        st = await fs.promises.stat(d);
      } catch (err) {
        throw new Error(`${d}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
      }
      if (!st.isDirectory()) throw new Error(`${d} is not a directory`);
      if ((st.mode & 0o200) === 0) throw new Error(`${d} is read-only (mode ${(st.mode & 0o777).toString(8)})`);
      const probe = path.join(d, `.readyz-${process.pid}`);
      try {
        await fs.promises.writeFile(probe, '', { mode: 0o600 });
        await fs.promises.unlink(probe);
      } catch (err) {
        throw new Error(`${d} is not writable: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
      }
    },
  };
}
