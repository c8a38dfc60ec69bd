import type { LiveSessionJson } from '../api/index.js';
import type { UserRecord } from '../store/index.js';

/** A browser watching a running session (the proxy's LiveDirectory.watch). */
export interface LiveWatchSink {
  reset(cols: number, rows: number, init: string): void;
  output(text: string): void;
  resize(cols: number, rows: number): void;
  end(line: string): void;
}

/** What the web part uses of the proxy's running sessions (injected: web does not import proxy). */
export interface LiveView {
  list(): Promise<LiveSessionJson[]>;
  /** Access checked and audited there (the same rule as tsh join). */
  watch(id: string, user: UserRecord, addr: string, sink: LiveWatchSink): Promise<{ stop(): void }>;
  end(id: string, message: string, by: string): Promise<{ id: string; ended: boolean; where: 'local' | 'remote' }>;
}

/** Bytes queued for one browser past which it is disconnected (a slow viewer never slows the session). */
export const LIVE_VIEW_BUFFER_BYTES = 4 * 1024 * 1024;
/** A comment line this often keeps a quiet session's stream inside the server's idle timeout. */
export const LIVE_VIEW_HEARTBEAT_MS = 20_000;

/** Server-sent events for asciinema-player's eventsource driver, fed by LiveView.watch. */
export async function liveEventStream(live: LiveView, id: string, user: UserRecord, addr: string): Promise<Response> {
  const enc = new TextEncoder();
  const t0 = performance.now();
  const time = () => Math.round(performance.now() - t0) / 1000;
  let controller!: ReadableStreamDefaultController<Uint8Array>;
  let closed = false;
  let watch: { stop(): void } | undefined;
  let heartbeat: NodeJS.Timeout | undefined;
  const close = () => {
    if (closed) return;
    closed = true;
    clearInterval(heartbeat);
    watch?.stop();
    try {
      controller.close();
    } catch {
      // already closed by the browser
    }
  };
  const send = (msg: unknown) => {
    if (closed) return;
    controller.enqueue(enc.encode(`data: ${JSON.stringify(msg)}\n\n`));
    if ((controller.desiredSize ?? 0) < 0) {
      controller.enqueue(enc.encode(`data: ${JSON.stringify([time(), 'o', '\r\ntollgate: this view fell behind the session and was disconnected; reload to catch up\r\n'])}\n\ndata: {"state":"offline"}\n\n`));
      close();
    }
  };
  const stream = new ReadableStream<Uint8Array>(
    {
      start(c) {
        controller = c;
      },
      cancel() {
        closed = true;
        clearInterval(heartbeat);
        watch?.stop();
      },
    },
    { highWaterMark: LIVE_VIEW_BUFFER_BYTES, size: (chunk) => chunk.byteLength },
  );
  // Refusals (not found, access denied) are thrown here, before any byte: a JSON error, not a stream.
  watch = await live.watch(id, user, addr, {
    reset: (cols, rows, init) => send({ cols, rows, time: time(), init }),
    output: (text) => send([time(), 'o', text]),
    resize: (cols, rows) => send([time(), 'r', `${cols}x${rows}`]),
    end: (line) => {
      send([time(), 'o', `\r\n${line}\r\n`]);
      send({ state: 'offline' });
      close();
    },
  });
  if (closed) watch.stop();
  heartbeat = setInterval(() => !closed && controller.enqueue(enc.encode(': keep-alive\n\n')), LIVE_VIEW_HEARTBEAT_MS);
  heartbeat.unref();
  return new Response(stream, { headers: { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-store', 'x-accel-buffering': 'no' } });
}
