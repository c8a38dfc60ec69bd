import type { RecordingChunk, SessionRecord, Store } from '../../store/index.js';
import { TerminalScreen } from './screen.js';

/** How often a daemon looks for more of another daemon's shipped recording. */
export const FOLLOW_POLL_MS = 300;
/** Chunks read per store query. */
const PAGE = 64;

type ShippedStore = Pick<Store, 'readRecordingChunks' | 'getSession'>;

/** What a follower hands its viewer: output and resizes from the shipped asciicast, then the end. */
export interface FollowerSink {
  paint(p: { cols: number; rows: number; paint: string }): void;
  output(text: string): void;
  resize(cols: number, rows: number): void;
  end(reason: string): void;
}

/**
 * Follows a session another daemon relays, through the recording it ships to the shared store
 * (SharedStoreStorage, every second): reads the `.cast` from the start into a TerminalScreen,
 * paints that screen, then polls for new chunks every FOLLOW_POLL_MS and passes their output
 * on, until the session index says it ended. The delay is the writer's flush (≤ 250 ms) plus the
 * shipper's tick (1 s) plus this poll: under 2 s, with no connection between the daemons.
 * Binary reads (kept in `.cast.bin`, shown as markers) are not shown to remote viewers.
 */
export function followShipped(store: ShippedStore, session: SessionRecord, sink: FollowerSink, pollMs = FOLLOW_POLL_MS): { stop(): void } {
  let offset = 0;
  let partial = '';
  let stopped = false;
  let header = false;
  let screen: TerminalScreen | undefined = new TerminalScreen(80, 24);
  const decoder = new TextDecoder('utf-8');
  let timer: NodeJS.Timeout | undefined;

  const handleLine = (line: string) => {
    if (!line) return;
    let v: unknown;
    try {
      v = JSON.parse(line);
    } catch {
      return;
    }
    if (!header) {
      header = true;
      const h = v as { width?: number; height?: number };
      if (h.width && h.height) screen?.resize(h.width, h.height);
      return;
    }
    if (!Array.isArray(v) || typeof v[2] !== 'string') return;
    if (v[1] === 'o') {
      if (screen) screen.output(Buffer.from(v[2], 'utf8'));
      else sink.output(v[2]);
    } else if (v[1] === 'r') {
      const m = /^(\d+)x(\d+)$/.exec(v[2]);
      if (!m) return;
      if (screen) screen.resize(Number(m[1]), Number(m[2]));
      else sink.resize(Number(m[1]), Number(m[2]));
    }
  };
  const take = (chunks: RecordingChunk[]): boolean => {
    for (const c of chunks) {
      if (c.offset !== offset) return false; // a gap (not shipped yet): wait for it
      offset += c.data.length;
      const text = partial + decoder.decode(c.data, { stream: true });
      const lines = text.split('\n');
      partial = lines.pop() ?? '';
      for (const l of lines) handleLine(l);
    }
    return true;
  };
  const tick = async () => {
    if (stopped) return;
    try {
      for (;;) {
        const chunks = await store.readRecordingChunks(session.id, 'cast', offset, PAGE);
        if (chunks.length === 0 || !take(chunks) || chunks.length < PAGE) break;
      }
      if (screen) {
        // Caught up with what was shipped: paint it, then follow event by event.
        const s = screen;
        screen = undefined;
        sink.paint(await s.snapshot());
        s.dispose();
      }
      const now = await store.getSession(session.id);
      if (now?.endedAt != null) {
        // One more read: the last bytes may have been shipped with the end.
        const rest = await store.readRecordingChunks(session.id, 'cast', offset, PAGE);
        take(rest);
        stopped = true;
        return sink.end(now.endReason ?? 'ended');
      }
    } catch {
      // The store is briefly unreachable: try again on the next tick.
    }
    if (!stopped) timer = setTimeout(() => void tick(), pollMs);
  };
  void tick();
  return {
    stop() {
      stopped = true;
      clearTimeout(timer);
      screen?.dispose();
    },
  };
}
