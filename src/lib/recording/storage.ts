import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import type { Logger } from '../log.js';
import type { RecordingPart, Store } from '../store/types.js';
import { chainPath, sigPath } from './integrity.js';

/*
 * Where recordings live. The recorder always writes to a local directory first (the data dir's
 * `recordings/`): the embedded default keeps them there. With the PostgreSQL store, that
 * directory is a spool: a shipper copies each recording's files into the store as append-only
 * chunks while the session runs (so every daemon can read it, even mid-session) and removes the
 * local copy once the session has ended and everything is shipped. When the database is down
 * the spool keeps growing and is shipped when it is back.
 */
const SESSION_ID = /^[0-9a-f-]{36}$/;
const PARTS: readonly RecordingPart[] = ['cast', 'chain', 'sig'];
const CHUNK_BYTES = 1 << 20;
const PAGE_CHUNKS = 8;

export interface MaterializedRecording {
  castFile: string;
  cleanup(): void;
}

export interface RecordingStorage {
  readonly dir: string;
  /** The local (spool) file of a part. */
  localPath(id: string, part?: RecordingPart): string;
  /** A part's bytes, streamed; null when there is none. */
  open(id: string, part: RecordingPart): Promise<Readable | null>;
  /** The recording with its sidecars as local files (a temporary copy when they are remote). */
  materialize(id: string): Promise<MaterializedRecording | null>;
  start(): void;
  /** Ships what is pending now (tests, shutdown). */
  flush(): Promise<void>;
  stop(): Promise<void>;
}

function checkId(id: string): string {
  if (!SESSION_ID.test(id)) throw new Error(`invalid session id ${id}`);
  return id;
}

function partFile(dir: string, id: string, part: RecordingPart): string {
  const cast = path.join(dir, `${checkId(id)}.cast`);
  return part === 'cast' ? cast : part === 'chain' ? chainPath(cast) : sigPath(cast);
}

/** The embedded default: recordings stay in the data dir. */
export class LocalDirStorage implements RecordingStorage {
  constructor(readonly dir: string) {}

  localPath(id: string, part: RecordingPart = 'cast'): string {
    return partFile(this.dir, id, part);
  }

  async open(id: string, part: RecordingPart): Promise<Readable | null> {
    const f = this.localPath(id, part);
    return fs.existsSync(f) ? fs.createReadStream(f) : null;
  }

  async materialize(id: string): Promise<MaterializedRecording | null> {
    const f = this.localPath(id);
    return fs.existsSync(f) ? { castFile: f, cleanup: () => {} } : null;
  }

  start(): void {}
  async flush(): Promise<void> {}
  async stop(): Promise<void> {}
}

/** Recordings in the shared store, with the local directory as the spool (see above). */
export class SharedStoreStorage extends LocalDirStorage {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private readonly shipped = new Map<string, number>();
  private failing = false;

  constructor(
    dir: string,
    private readonly store: Store,
    private readonly log: Logger,
    private readonly intervalMs = 1000,
  ) {
    super(dir);
  }

  override async open(id: string, part: RecordingPart): Promise<Readable | null> {
    // This daemon's own spool is at least as complete as what it has shipped.
    const local = await super.open(id, part);
    if (local) return local;
    if ((await this.store.recordingPartSize(id, part)) === 0) return null;
    return Readable.from(this.chunks(id, part));
  }

  private async *chunks(id: string, part: RecordingPart): AsyncGenerator<Buffer> {
    let offset = 0;
    for (let page = 0; page < 1_000_000; page++) {
      const rows = await this.store.readRecordingChunks(id, part, offset, PAGE_CHUNKS);
      if (rows.length === 0) return;
      for (const r of rows) {
        if (r.offset !== offset) return; // a gap: stop at what is contiguous
        yield r.data;
        offset += r.data.length;
      }
    }
  }

  override async materialize(id: string): Promise<MaterializedRecording | null> {
    const local = await super.materialize(id);
    if (local) return local;
    const cast = await this.open(id, 'cast');
    if (!cast) return null;
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tollgate-recording-'));
    const cleanup = () => fs.rmSync(dir, { recursive: true, force: true });
    try {
      for (const part of PARTS) {
        const src = part === 'cast' ? cast : await this.open(id, part);
        if (!src) continue;
        const out = fs.createWriteStream(partFile(dir, id, part), { mode: 0o600 });
        for await (const chunk of src) if (!out.write(chunk)) await new Promise<void>((r) => out.once('drain', () => r()));
        await new Promise<void>((resolve, reject) => out.end((err?: Error | null) => (err ? reject(err) : resolve())));
      }
      return { castFile: partFile(dir, id, 'cast'), cleanup };
    } catch (err) {
      cleanup();
      throw err;
    }
  }

  override start(): void {
    this.timer = setInterval(() => void this.flush(), this.intervalMs);
    this.timer.unref();
  }

  override flush(): Promise<void> {
    this.running ??= this.shipAll().finally(() => (this.running = undefined));
    return this.running;
  }

  override async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await this.flush();
  }

  private async shipAll(): Promise<void> {
    let ids: string[];
    try {
      ids = fs.readdirSync(this.dir).filter((f) => f.endsWith('.cast')).map((f) => f.slice(0, -5)).filter((id) => SESSION_ID.test(id));
    } catch {
      return; // no spool yet
    }
    try {
      for (const id of ids) await this.ship(id);
      if (this.failing) this.log.info('the shared store is reachable again; spooled recordings shipped', { component: 'recording' });
      this.failing = false;
    } catch (err) {
      if (!this.failing) {
        this.log.error('cannot ship recordings to PostgreSQL; keeping them in the local spool and retrying', { component: 'recording', spool: this.dir, error: (err as Error).message.split('\n')[0] });
      }
      this.failing = true;
    }
  }

  /** Ships new bytes of each part; removes the spool copy when the session has ended and all is shipped. */
  private async ship(id: string): Promise<void> {
    const session = await this.store.getSession(id);
    const ended = session !== undefined && session.endedAt !== null;
    let complete = true;
    for (const part of PARTS) {
      const file = this.localPath(id, part);
      if (!fs.existsSync(file)) {
        if (part === 'cast') return;
        continue;
      }
      const key = `${id}:${part}`;
      let offset = this.shipped.get(key) ?? (await this.store.recordingPartSize(id, part));
      const size = fs.statSync(file).size;
      // Ship whole lines while the writer may still append (a half line could change in recovery).
      const limit = ended ? size : await this.lastNewline(file, offset, size);
      const fd = fs.openSync(file, 'r');
      try {
        while (offset < limit) {
          const buf = Buffer.alloc(Math.min(CHUNK_BYTES, limit - offset));
          const n = fs.readSync(fd, buf, 0, buf.length, offset);
          if (n <= 0) break;
          await this.store.appendRecordingChunk(id, part, offset, buf.subarray(0, n));
          offset += n;
          this.shipped.set(key, offset);
        }
      } finally {
        fs.closeSync(fd);
      }
      if (offset < size) complete = false;
    }
    // endSession runs after the .sig is written, so an ended session has all its parts on disk.
    if (ended && complete) {
      for (const part of PARTS) fs.rmSync(this.localPath(id, part), { force: true });
      for (const part of PARTS) this.shipped.delete(`${id}:${part}`);
    }
  }

  private async lastNewline(file: string, from: number, size: number): Promise<number> {
    if (size <= from) return from;
    const fd = fs.openSync(file, 'r');
    try {
      const window = Math.min(size - from, 1 << 20);
      const buf = Buffer.alloc(window);
      const n = fs.readSync(fd, buf, 0, window, size - window);
      const nl = buf.subarray(0, n).lastIndexOf(10);
      return nl === -1 ? from : size - window + nl + 1;
    } finally {
      fs.closeSync(fd);
    }
  }
}
