import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { badParameter } from '../errors.js';
import type { Logger } from '../log.js';
import type { RecordingPart, Store } from '../store/index.js';
import { wholeLinesEnd } from './cast-lines.js';
import { binPath } from './binary-sidecar.js';
import { chainPath, sigPath } from './integrity.js';
import { isUuid } from '../ids.js';

/*
 * Where recordings live. The recorder always writes to a local directory first (the data dir's
 * `recordings/`): the embedded default keeps them there. With the PostgreSQL store, that
 * directory is a spool: a shipper copies each recording's files into the store as append-only
 * chunks while the session runs (so every daemon can read it, even mid-session) and removes the
 * local copy once the session has ended and everything is shipped. When the database is down
 * the spool keeps growing and is shipped when it is back.
 *
 * Every reader, on every daemon, sees a running recording the same way: its whole lines so far.
 * A half-written last line (the writer mid-write) is never served, since it could still change
 * or be cut in recovery; the shipper never ships one while the session runs, and a read of the
 * local file stops before it. Once the session has ended, everything is served and shipped.
 */
const PARTS: readonly RecordingPart[] = ['cast', 'chain', 'sig', 'bin'];
const CHUNK_BYTES = 1 << 20;
const PAGE_CHUNKS = 8;

export interface MaterializedRecording {
  castFile: string;
  cleanup(): void;
}

/**
 * What the recorder, the web API and the admin API need from wherever recordings live; both
 * storages pass one contract suite (test/contract/recording-storage-contract.ts).
 */
export interface RecordingStorage {
  /** Where the recorder writes: the data dir's recordings, or the spool. */
  readonly dir: string;
  /** The local (spool) file of a part; a session id that is not a UUID is a bad-parameter error. */
  localPath(id: string, part?: RecordingPart): string;
  /**
   * A part's bytes, streamed, from this daemon's files or the shared store; null when there is
   * none (not-found is for the caller to word). A running recording reads as its whole lines.
   */
  open(id: string, part: RecordingPart): Promise<Readable | null>;
  /** The recording with its sidecars as local files (a temporary copy when they are remote); null when there is none. */
  materialize(id: string): Promise<MaterializedRecording | null>;
  /** Starts shipping in the background (the shared store); a no-op for the data dir. */
  start(): void;
  /** Ships what is pending now (tests, shutdown). */
  flush(): Promise<void>;
  /** Stops the background shipping after shipping what is pending. */
  stop(): Promise<void>;
}

/** The session index lookups the storages make (whether a recording is still running). */
export type SessionLookup = Pick<Store, 'getSession'>;

function checkId(id: string): string {
  if (!isUuid(id)) throw badParameter(`invalid session id ${id}`, 'session ids are UUIDs, as tsh recordings ls shows them');
  return id;
}

function partFile(dir: string, id: string, part: RecordingPart): string {
  const cast = path.join(dir, `${checkId(id)}.cast`);
  return part === 'cast' ? cast : part === 'chain' ? chainPath(cast) : part === 'bin' ? binPath(cast) : sigPath(cast);
}

/**
 * The embedded default: recordings stay in the data dir. `sessions` tells a running recording
 * from an ended one; without it (or when it cannot answer) a file is served as it is.
 */
export class LocalDirStorage implements RecordingStorage {
  constructor(
    readonly dir: string,
    private readonly sessions?: SessionLookup,
  ) {}

  localPath(id: string, part: RecordingPart = 'cast'): string {
    return partFile(this.dir, id, part);
  }

  async open(id: string, part: RecordingPart): Promise<Readable | null> {
    let fd: number;
    try {
      // Opened before anything else: a spool copy the shipper removes meanwhile stays readable.
      fd = fs.openSync(this.localPath(id, part), 'r');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw err;
    }
    try {
      // The .bin is blocks, not lines; a block is on disk before the line that marks it, so all of it can be served.
      if (part === 'bin' || !(await this.isRecording(id))) return fs.createReadStream('', { fd });
      const end = wholeLinesEnd(fd, 0, fs.fstatSync(fd).size);
      if (end === 0) {
        fs.closeSync(fd);
        return Readable.from([]);
      }
      return fs.createReadStream('', { fd, start: 0, end: end - 1 });
    } catch (err) {
      fs.closeSync(fd);
      throw err;
    }
  }

  /** Whether the session is still being recorded; a lookup that fails counts as ended (served whole, as before lookups). */
  private async isRecording(id: string): Promise<boolean> {
    if (!this.sessions) return false;
    try {
      const s = await this.sessions.getSession(id);
      return s !== undefined && s.endedAt === null;
    } catch {
      return false;
    }
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
    super(dir, store);
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

  /**
   * Spool bytes not shipped yet (the shipper's backlog, a metric): each part's size past what
   * this process has shipped. A part not looked at since start-up counts whole until the next tick.
   */
  backlogBytes(): number {
    let total = 0;
    let files: string[];
    try {
      files = fs.readdirSync(this.dir);
    } catch {
      return 0;
    }
    for (const f of files) {
      // ID.cast, ID.cast.chain, ID.cast.sig, ID.cast.bin (partFile)
      const m = /^(.+)\.cast(?:\.(chain|sig|bin))?$/.exec(f);
      if (!m || !isUuid(m[1]!)) continue;
      try {
        const size = fs.statSync(path.join(this.dir, f)).size;
        total += Math.max(0, size - (this.shipped.get(`${m[1]}:${m[2] ?? 'cast'}`) ?? 0));
      } catch {
        // removed after shipping, between the listing and the stat
      }
    }
    return total;
  }

  private async shipAll(): Promise<void> {
    let ids: string[];
    try {
      ids = fs.readdirSync(this.dir).filter((f) => f.endsWith('.cast')).map((f) => f.slice(0, -5)).filter((id) => isUuid(id));
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
      const fd = fs.openSync(file, 'r');
      let size: number;
      try {
        size = fs.fstatSync(fd).size;
        // Ship whole lines while the writer may still append (a half line could change in recovery).
        // (The .bin is append-only blocks written before their markers: shipped as it is.)
        const limit = ended || part === 'bin' ? size : wholeLinesEnd(fd, offset, size);
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
}
