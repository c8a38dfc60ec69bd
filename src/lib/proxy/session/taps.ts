import type { Logger } from '../../log.js';
import type { SessionEnd } from '../../recording/index.js';
import { settlesWithin } from '../../within.js';

/*
 * Taps: whatever watches a session (the recorder, live observers, the search indexer) gets the
 * same events from the relay, and none of them runs on the relay's path.
 *
 * Two kinds, and what happens when one falls behind:
 * - The **mandatory** tap (the recorder) applies backpressure: when it is behind, write() returns
 *   false and the relay pauses that source until onceDrained(); memory stays bounded by the
 *   tap's own high-water mark. When it fails (disk full, store gone), the session ends with the
 *   reason: a session that cannot be recorded does not go on.
 * - An **optional** tap is fed through a bounded buffer (createOptionalTap). It never slows the
 *   relay: when its buffer overflows it is dropped from the session, and the drop is logged and
 *   audited (`session.tap_dropped`), never waited for.
 */

export type TapEvent =
  /** Bytes from the node to the client (stdout and stderr alike, as the terminal shows them). */
  | { type: 'output'; data: Buffer }
  /** Bytes from the client to the node; `participant` names a peer who joined (tsh join --mode=peer). */
  | { type: 'input'; data: Buffer; participant?: string }
  | { type: 'resize'; cols: number; rows: number }
  /** A file operation in an SFTP session (the SFTP parser emits these). */
  | { type: 'file'; op: string; path: string; bytes?: number; target?: string }
  | { type: 'exit'; status: number | null; signal: string | null };

/** How a session ended, as taps are told when it is over (the recording's own end record). */
export type { SessionEnd };

export interface SessionTap {
  readonly name: string;
  /**
   * False when this tap is behind: the source pauses until onceDrained() (mandatory taps only).
   * `at`: the epoch ms (recorder's clock) the event passed, stamped once for every tap.
   */
  write(event: TapEvent, at?: number): boolean;
  onceDrained(cb: () => void): void;
  /** The session is over: deliver what is buffered and finish. */
  close(end: SessionEnd): Promise<void>;
}

/** What an optional tap consumes: batches of events, at its own pace. */
export interface TapConsumer {
  readonly name: string;
  /**
   * Called with the events buffered since the last call, and the epoch ms each passed the relay at
   * (a batch is delivered later than its events happened); the next batch waits for this one.
   */
  deliver(events: readonly TapEvent[], at: readonly number[]): void | Promise<void>;
  close?(end: SessionEnd): void | Promise<void>;
}

export interface OptionalTapOptions {
  /** Buffered bytes (output and input data) past which the tap is dropped. */
  maxBufferedBytes: number;
  /** Called once when the tap is dropped (the pipeline audits and logs it). */
  onDrop(reason: string): void;
  /** Epoch ms each event is stamped with as it passes (default: the recorder's clock, so offsets match the `.cast`). */
  now?: () => number;
}

const EVENT_OVERHEAD = 64;

/** How long the end of a session waits for an optional tap to deliver what it holds and close. */
export const OPTIONAL_TAP_CLOSE_MS = 5_000;

function sizeOf(e: TapEvent): number {
  return e.type === 'output' || e.type === 'input' ? e.data.length + EVENT_OVERHEAD : EVENT_OVERHEAD;
}

/**
 * An optional tap over a consumer: events are queued and handed over in batches on a later turn
 * of the event loop; the queue is bounded, and a consumer that falls behind it is dropped.
 */
export function createOptionalTap(consumer: TapConsumer, o: OptionalTapOptions): SessionTap {
  let queue: TapEvent[] = [];
  let times: number[] = [];
  const now = o.now ?? (() => performance.timeOrigin + performance.now());
  let queued = 0;
  let delivering = false;
  let scheduled = false;
  let dropped = false;
  let idle: Array<() => void> = [];

  const drop = (reason: string) => {
    if (dropped) return;
    dropped = true;
    queue = [];
    times = [];
    queued = 0;
    o.onDrop(reason);
    for (const cb of idle.splice(0)) cb();
    // The consumer is told it is out (a live viewer is disconnected, an indexer marks the gap).
    try {
      void Promise.resolve(consumer.close?.({ exitStatus: null, exitSignal: null, reason: `tap dropped: ${reason}` })).catch(() => undefined);
    } catch {
      // Its own failure to close changes nothing: it is already out of the session.
    }
  };
  const pump = () => {
    scheduled = false;
    if (dropped || delivering || queue.length === 0) {
      if (!delivering) for (const cb of idle.splice(0)) cb();
      return;
    }
    const batch = queue;
    const at = times;
    queue = [];
    times = [];
    queued = 0;
    delivering = true;
    let result: void | Promise<void>;
    try {
      result = consumer.deliver(batch, at);
    } catch (err) {
      delivering = false;
      return drop(`failed: ${(err as Error).message}`);
    }
    const next = () => {
      delivering = false;
      schedule();
    };
    if (result && typeof result.then === 'function') result.then(next, (err: Error) => ((delivering = false), drop(`failed: ${err.message}`)));
    else next();
  };
  const schedule = () => {
    if (scheduled) return;
    scheduled = true;
    setImmediate(pump);
  };
  return {
    name: consumer.name,
    write(event, at) {
      if (dropped) return true;
      queue.push(event);
      times.push(at ?? now());
      queued += sizeOf(event);
      if (queued > o.maxBufferedBytes) drop(`fell behind by more than ${o.maxBufferedBytes} bytes`);
      else schedule();
      return true;
    },
    onceDrained(cb) {
      cb();
    },
    async close(end) {
      if (!dropped && (queue.length > 0 || delivering)) {
        await new Promise<void>((resolve) => {
          idle.push(resolve);
          schedule();
        });
      }
      if (!dropped) await consumer.close?.(end);
    },
  };
}

/**
 * The taps of one session: the mandatory one decides backpressure; every event goes to all.
 * Closing waits for the mandatory tap (its failure is the caller's to handle) and gives each
 * optional tap at most OPTIONAL_TAP_CLOSE_MS: one that fails or takes longer is dropped
 * (`onDrop`), so no optional tap holds up the end of a session.
 */
export class SessionTaps {
  private readonly all: SessionTap[];

  constructor(
    private readonly mandatory: SessionTap,
    optional: readonly SessionTap[],
    private readonly log: Logger,
    private readonly onDrop: (tap: string, reason: string) => void = () => {},
    private readonly closeTimeoutMs = OPTIONAL_TAP_CLOSE_MS,
  ) {
    this.all = [mandatory, ...optional];
  }

  write(event: TapEvent): boolean {
    // Stamped once, before the recorder's turn: an optional tap's time for an event is then never
    // later than the `.cast`'s (the recorder reads the clock after this, and its encoding work no
    // longer delays the others' stamps), so playing from a search hit's offset shows the hit.
    const at = performance.timeOrigin + performance.now();
    let ok = true;
    for (const tap of this.all) if (!tap.write(event, at)) ok = false;
    return ok;
  }

  onceDrained(cb: () => void): void {
    this.mandatory.onceDrained(cb);
  }

  async close(end: SessionEnd): Promise<void> {
    const optional = this.all.slice(1).map((tap) => this.closeOptional(tap, end));
    try {
      await this.mandatory.close(end);
    } finally {
      await Promise.all(optional);
    }
  }

  private async closeOptional(tap: SessionTap, end: SessionEnd): Promise<void> {
    try {
      if (!(await settlesWithin(tap.close(end), this.closeTimeoutMs, { unref: true }))) this.onDrop(tap.name, `did not finish within ${this.closeTimeoutMs} ms of the session's end`);
    } catch (err) {
      this.log.error('a session tap failed to close', { component: 'proxy', tap: tap.name, error: (err as Error).message });
      this.onDrop(tap.name, `failed to close: ${(err as Error).message}`);
    }
  }
}
