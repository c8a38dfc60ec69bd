import cluster, { type Worker } from 'node:cluster';
import { unavailable } from '../errors.js';
import type { Logger } from '../log.js';
import { settlesWithin } from '../within.js';
import { isToPrimary, WORKER_SLOT_ENV, type ToWorker, type WatchEvent, type WorkerQuestion } from './messages.js';

/** A worker that keeps dying is restarted at most this many times per RESTART_WINDOW_MS. */
export const MAX_RESTARTS = 5;
export const RESTART_WINDOW_MS = 60_000;
/** How long a worker may take from fork to listening. */
export const WORKER_START_TIMEOUT_MS = 60_000;
/** How long /metrics (or a session list) waits for a worker's answer before leaving it out. */
const METRICS_TIMEOUT_MS = 2_000;

interface Slot {
  n: number;
  worker: Worker | undefined;
  listening: boolean;
  restarts: number[];
  /** The worker's id in the session index (its slot's), once it listens. */
  serverId?: string;
}

/** What a web viewer of a worker's session is shown (the shape of the live view's WatchSink). */
export interface WatchTarget {
  reset(cols: number, rows: number, init: string): void;
  output(text: string): void;
  resize(cols: number, rows: number): void;
  end(line: string): void;
}

interface Watch {
  slot: Slot;
  target: WatchTarget;
  decoder: TextDecoder;
  attached(ok: boolean): void;
}

export interface WorkerPoolOptions {
  count: number;
  log: Logger;
  /** Extra environment for each fork, read at the fork (the primary's running config, the join secret). */
  env?: () => Record<string, string>;
  startTimeoutMs?: number;
}

/**
 * The daemon's primary side of `teleport.workers: N`: forks N copies of the running command
 * (node:cluster re-runs `teleport start` with the same arguments; each learns its slot from
 * WORKER_SLOT_ENV), which accept SSH connections on the shared listen_addr (the primary holds the
 * socket and hands connections round-robin). A worker that dies is logged and forked again into
 * its slot (the new one closes the slot's interrupted sessions at its start), at most
 * MAX_RESTARTS times per RESTART_WINDOW_MS.
 */
export class WorkerPool {
  private readonly slots: Slot[];
  private stopping = false;
  private questionId = 0;
  private readonly pending = new Map<number, { want: number; got: unknown[][]; done(v: unknown[][]): void }>();
  private readonly log: Logger;
  private addr: string | undefined;
  private watchId = 0;
  private readonly watches = new Map<number, Watch>();

  constructor(private readonly o: WorkerPoolOptions) {
    this.log = o.log.child({ component: 'workers' });
    this.slots = Array.from({ length: o.count }, (_, i) => ({ n: i + 1, worker: undefined, listening: false, restarts: [] }));
    cluster.on('message', (worker, m: unknown) => {
      if (!isToPrimary(m)) return;
      const slot = this.slots.find((s) => s.worker === worker);
      if (m.t === 'tollgate:listening' && slot) {
        slot.listening = true;
        slot.serverId = m.serverId;
        this.addr ??= m.addr;
      } else if (m.t === 'tollgate:watch-event') this.onWatchEvent(m.wid, m.ev);
      else if (m.t === 'tollgate:metrics' || m.t === 'tollgate:live') {
        const p = this.pending.get(m.id);
        if (!p) return;
        p.got.push(m.answer);
        if (p.got.length >= p.want) p.done(p.got);
      }
    });
  }

  /** Forks every worker; resolves once all of them listen, rejects when one fails to start. */
  async start(): Promise<void> {
    await Promise.all(this.slots.map((s) => this.fork(s, true)));
  }

  /** Workers accepting connections now. */
  listening(): number {
    return this.slots.filter((s) => s.listening).length;
  }

  /** The SSH address the workers reported (host:port). */
  address(): string | undefined {
    return this.addr;
  }

  get size(): number {
    return this.slots.length;
  }

  /** Process ids by slot (tests, status). */
  pids(): Array<number | undefined> {
    return this.slots.map((s) => s.worker?.process.pid);
  }

  broadcast(m: ToWorker): void {
    for (const s of this.slots) if (s.worker?.isConnected()) s.worker.send(m);
  }

  /** Every live worker's metrics (prom-client JSON); a worker that does not answer in time is left out. */
  metrics(): Promise<unknown[][]> {
    return this.ask('tollgate:metrics');
  }

  /** Every worker's running sessions, with activity and participants (LiveDirectory rows). */
  async liveSessions(): Promise<unknown[]> {
    return (await this.ask('tollgate:live')).flat();
  }

  /**
   * A web viewer of a session the worker with server id `serverId` relays, attached there as an
   * observer (so its participants see it, and the paint is the session's current screen).
   * Undefined when no such worker listens or it would not attach (the caller follows the recording).
   */
  watch(serverId: string, sid: string, user: string, target: WatchTarget): Promise<{ stop(): void } | undefined> {
    const slot = this.slots.find((s) => s.serverId === serverId && s.listening && s.worker?.isConnected());
    if (!slot) return Promise.resolve(undefined);
    const wid = ++this.watchId;
    const stop = () => {
      if (!this.watches.delete(wid)) return;
      if (slot.worker?.isConnected()) slot.worker.send({ t: 'tollgate:unwatch', wid } satisfies ToWorker);
    };
    return new Promise((resolve) => {
      this.watches.set(wid, { slot, target, decoder: new TextDecoder('utf-8'), attached: (ok) => resolve(ok ? { stop } : (stop(), undefined)) });
      slot.worker!.send({ t: 'tollgate:watch', wid, sid, user } satisfies ToWorker);
    });
  }

  private onWatchEvent(wid: number, ev: WatchEvent): void {
    const w = this.watches.get(wid);
    if (!w) return;
    switch (ev.k) {
      case 'ok':
        return w.attached(true);
      case 'refused':
        this.watches.delete(wid);
        return w.attached(false);
      case 'paint':
        return w.target.reset(ev.cols, ev.rows, ev.paint);
      case 'out':
        return w.target.output(w.decoder.decode(Buffer.from(ev.b64, 'base64'), { stream: true }));
      case 'resize':
        return w.target.resize(ev.cols, ev.rows);
      case 'status':
        return w.target.output(`\r\n[tollgate] ${ev.line}\r\n`);
      case 'end':
        this.watches.delete(wid);
        w.attached(true);
        return w.target.end(ev.line);
    }
  }

  /** A worker gone: its web viewers are told, as a session's viewers are when it ends. */
  private endWatches(slot: Slot): void {
    for (const [wid, w] of this.watches) {
      if (w.slot !== slot) continue;
      this.watches.delete(wid);
      w.attached(false);
      w.target.end('tollgate: the worker relaying this session exited; the session was interrupted');
    }
  }

  private ask(t: WorkerQuestion): Promise<unknown[][]> {
    const live = this.slots.filter((s) => s.worker?.isConnected());
    if (live.length === 0) return Promise.resolve([]);
    const id = ++this.questionId;
    return new Promise((resolve) => {
      const timer = setTimeout(() => finish(entry.got), METRICS_TIMEOUT_MS);
      const finish = (v: unknown[][]) => {
        clearTimeout(timer);
        this.pending.delete(id);
        resolve(v);
      };
      const entry = { want: live.length, got: [] as unknown[][], done: finish };
      this.pending.set(id, entry);
      for (const s of live) s.worker!.send({ t, id } satisfies ToWorker);
    });
  }

  /**
   * SIGTERM: every worker drains (stops accepting, waits for its sessions up to drain_timeout,
   * ends the rest) and exits; the ones still running after `timeoutMs` are killed.
   */
  async stop(timeoutMs: number): Promise<void> {
    this.stopping = true;
    const running = this.slots.map((s) => s.worker).filter((w): w is Worker => w !== undefined && !w.isDead());
    const exited = running.map((w) => new Promise<void>((r) => (w.isDead() ? r() : w.once('exit', () => r()))));
    this.broadcast({ t: 'tollgate:shutdown' });
    await settlesWithin(Promise.all(exited), timeoutMs);
    for (const w of running) {
      if (!w.isDead()) {
        this.log.warn('worker did not stop in time; killing it', { worker: this.slotOf(w) });
        w.process.kill('SIGKILL');
      }
    }
    await Promise.all(exited);
  }

  /** Ends every worker at once (a second signal, a failed start). */
  kill(): void {
    this.stopping = true;
    for (const s of this.slots) if (s.worker && !s.worker.isDead()) s.worker.process.kill('SIGKILL');
  }

  private slotOf(w: Worker): number | undefined {
    return this.slots.find((s) => s.worker === w)?.n;
  }

  private fork(slot: Slot, first: boolean): Promise<void> {
    const worker = cluster.fork({ ...(this.o.env?.() ?? {}), [WORKER_SLOT_ENV]: String(slot.n) });
    slot.worker = worker;
    slot.listening = false;
    return new Promise<void>((resolve, reject) => {
      let started = false;
      let abandoned = false;
      const timer = setTimeout(() => {
        if (started) return;
        started = true;
        // Not left running: a worker that never said it listens may still accept connections
        // later, on a listener nobody tracks, and would hold a stop up.
        abandoned = true;
        worker.process.kill('SIGKILL');
        reject(unavailable(`SSH worker ${slot.n} did not start within ${(this.o.startTimeoutMs ?? WORKER_START_TIMEOUT_MS) / 1000}s`, 'see its log lines above'));
      }, this.o.startTimeoutMs ?? WORKER_START_TIMEOUT_MS);
      timer.unref();
      const onMessage = (m: unknown) => {
        if (!isToPrimary(m) || m.t !== 'tollgate:listening' || started) return;
        started = true;
        clearTimeout(timer);
        worker.off('message', onMessage);
        if (!first) this.log.info('worker restarted', { worker: slot.n, pid: worker.process.pid });
        resolve();
      };
      worker.on('message', onMessage);
      worker.once('exit', (code, signal) => {
        // A worker killed for not starting in time, or replaced in its slot since: its exit is
        // not the slot's (the slot's own worker may be running; restarting again would make two).
        if (abandoned || slot.worker !== worker) return;
        slot.listening = false;
        this.endWatches(slot);
        if (!started) {
          started = true;
          clearTimeout(timer);
          reject(unavailable(`SSH worker ${slot.n} exited during start-up (${signal ?? `exit code ${code}`})`, 'see its log lines above'));
          return;
        }
        if (this.stopping) return;
        this.log.error('worker exited; its running sessions were cut and are closed as interrupted when it starts again', { worker: slot.n, pid: worker.process.pid, ...(signal ? { signal } : { code }) });
        this.restart(slot);
      });
    });
  }

  private restart(slot: Slot): void {
    const now = Date.now();
    slot.restarts = slot.restarts.filter((t) => now - t < RESTART_WINDOW_MS);
    if (slot.restarts.length >= MAX_RESTARTS) {
      slot.worker = undefined;
      this.log.error('worker keeps exiting; not restarting it (the other workers go on; restart the daemon)', { worker: slot.n, restarts: slot.restarts.length, window: `${RESTART_WINDOW_MS / 1000}s` });
      return;
    }
    slot.restarts.push(now);
    // A short pause that grows with the failures, so a worker failing at once does not spin.
    const delay = 250 * 2 ** (slot.restarts.length - 1);
    setTimeout(() => {
      if (this.stopping) return;
      this.fork(slot, false).catch((err: Error) => {
        this.log.error('worker did not start again', { worker: slot.n, error: err.message });
        if (!this.stopping) this.restart(slot);
      });
    }, delay).unref();
  }
}
