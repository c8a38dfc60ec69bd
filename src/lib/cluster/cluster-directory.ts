import { LiveDirectory, type ActiveSession } from '../proxy/index.js';
import type { SessionRecord } from '../store/index.js';
import type { WatchTarget } from './worker-pool.js';

/** The live view's sink (LiveDirectory.watch's). */
type WatchSink = Parameters<LiveDirectory['watch']>[3];

/**
 * The primary's directory of running sessions when SSH workers relay them: the store says which
 * sessions run (as for another daemon's), and each worker says, when asked, what only it knows
 * (last activity, who has joined), so `tctl sessions ls --active` and the web list show the same
 * rows whichever process relays a session. A worker that does not answer leaves the store's row.
 */
export class ClusterDirectory extends LiveDirectory {
  /** The workers' own rows (WorkerPool.liveSessions); set once they are forked. */
  siblings: (() => Promise<unknown[]>) | undefined;
  /** Attaches a web viewer in the worker that relays a session (WorkerPool.watch); set once they are forked. */
  watchSibling: ((serverId: string, sid: string, user: string, target: WatchTarget) => Promise<{ stop(): void } | undefined>) | undefined;

  protected override async watchElsewhere(session: SessionRecord, user: string, sink: WatchSink): Promise<{ stop(): void } | undefined> {
    if (!this.watchSibling || !session.serverId) return undefined;
    return this.watchSibling(session.serverId, session.id, user, sink);
  }

  override async list(): Promise<ActiveSession[]> {
    const rows = await super.list();
    const ask = this.siblings;
    if (!ask || rows.every((r) => r.local)) return rows;
    const theirs = new Map(((await ask().catch(() => [])) as ActiveSession[]).map((s) => [s.id, s]));
    return rows.map((r) => {
      const t = r.local ? undefined : theirs.get(r.id);
      // A sibling worker's session is this daemon's own: its activity and participants are known.
      return t ? { ...t, local: true } : r;
    });
  }
}
