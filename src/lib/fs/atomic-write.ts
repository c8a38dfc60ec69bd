import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { Writable } from 'node:stream';
import { alreadyExists } from '../errors.js';

/*
 * The one way tollgate writes a file that someone relies on (a private key, a profile, an
 * export): to a temporary file beside it, flushed to disk, then renamed (or linked) into place.
 * A reader, or the next start after a crash, sees the old file or the whole new one, never a
 * half-written one. The temporary name is hidden, unique per call, and created exclusively, so
 * a leftover or a planted file (a symlink, say) is never written through.
 */
export interface AtomicWriteOptions {
  /** The file's mode, set exactly: the umask does not narrow or widen it. */
  mode: number;
  /**
   * Replace a file that exists. Without it an existing file is an `already-exists` error, decided
   * atomically at the moment of publishing (a file created meanwhile is not clobbered either).
   */
  overwrite?: boolean;
}

/** Writes `data` to `file` all-or-nothing (see above). */
export function writeFileAtomic(file: string, data: string | Uint8Array, o: AtomicWriteOptions): void {
  const staged = stage(file, o.mode, (fd) => writeAllSync(fd, typeof data === 'string' ? Buffer.from(data) : data));
  publish(staged, file, o.overwrite ?? false);
}

/**
 * The same for content produced as a stream: `fill` writes to `out` (respecting backpressure)
 * and resolves when done; it must not end `out`. If `fill` fails nothing is left behind.
 */
export async function writeFileAtomicStream(file: string, fill: (out: Writable) => Promise<void>, o: AtomicWriteOptions): Promise<void> {
  const tmp = tempName(file);
  const fd = openTemp(tmp, o.mode);
  const out = new FdWriter(fd);
  // A failed write (a full disk) rejects at once, even while `fill` waits for 'drain'.
  const failed = new Promise<never>((_, reject) => out.once('error', reject));
  failed.catch(() => {}); // observed through the races below
  try {
    await Promise.race([fill(out), failed]);
    await Promise.race([new Promise<void>((resolve, reject) => out.end((err?: Error | null) => (err ? reject(err) : resolve()))), failed]);
    syncData(fd);
  } catch (err) {
    out.destroy();
    // The descriptor is closed only once no write is in flight: a late write must not land in
    // whatever file reuses the number.
    await out.settled();
    discard(tmp, fd);
    throw err;
  }
  fs.closeSync(fd);
  publish(tmp, file, o.overwrite ?? false);
}

/** A writable over a descriptor it does not own (unlike fs.WriteStream, which closes it when destroyed). */
class FdWriter extends Writable {
  private inflight: Promise<void> = Promise.resolve();

  constructor(private readonly fd: number) {
    super();
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    const write = writeAll(this.fd, chunk);
    this.inflight = write.then(
      () => {},
      () => {},
    );
    write.then(() => callback(), callback);
  }

  /** Resolves once no write is in flight. */
  settled(): Promise<void> {
    return this.inflight;
  }
}

/** Writes the whole buffer at the descriptor's position (loops on short writes) on libuv's pool. */
function writeAll(fd: number, data: Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    const step = (off: number) => {
      fs.write(fd, data, off, data.length - off, null, (err, n) => {
        if (err) reject(err);
        else if (off + n < data.length) step(off + n);
        else resolve();
      });
    };
    step(0);
  });
}

/**
 * Writes several files as one: all are staged first, then published; when one cannot be, those
 * already published by this call are removed again if they were new (without `overwrite`). With
 * `overwrite` a file already replaced stays replaced: its old content is gone.
 */
export function writeFilesAtomic(files: readonly { path: string; data: string | Uint8Array; mode: number }[], o: { overwrite?: boolean } = {}): void {
  const staged: string[] = [];
  try {
    for (const f of files) staged.push(stage(f.path, f.mode, (fd) => writeAllSync(fd, typeof f.data === 'string' ? Buffer.from(f.data) : f.data)));
  } catch (err) {
    for (const t of staged) removeQuietly(t);
    throw err;
  }
  let done = 0;
  try {
    for (; done < files.length; done++) publish(staged[done]!, files[done]!.path, o.overwrite ?? false);
  } catch (err) {
    for (let i = done + 1; i < staged.length; i++) removeQuietly(staged[i]!);
    if (!o.overwrite) for (let i = 0; i < done; i++) removeQuietly(files[i]!.path);
    throw err;
  }
}

/** `.NAME.PID.RANDOM.tmp` beside the file: same filesystem (rename is atomic), hidden from `ls`. */
function tempName(file: string): string {
  return path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.${crypto.randomBytes(6).toString('hex')}.tmp`);
}

function openTemp(tmp: string, mode: number): number {
  const fd = fs.openSync(tmp, 'wx', mode);
  try {
    // open()'s mode is narrowed by the umask; a 0644 certificate must still come out 0644.
    fs.fchmodSync(fd, mode);
  } catch (err) {
    discard(tmp, fd);
    throw err;
  }
  return fd;
}

/** Creates the temporary file, lets `write` fill it, flushes it to disk; returns its name. */
function stage(file: string, mode: number, write: (fd: number) => void): string {
  const tmp = tempName(file);
  const fd = openTemp(tmp, mode);
  try {
    write(fd);
    syncData(fd);
  } catch (err) {
    discard(tmp, fd);
    throw err;
  }
  fs.closeSync(fd);
  return tmp;
}

/**
 * Moves the staged file into place. Without overwrite it is hard-linked, which fails if the name
 * exists (no check-then-rename race); filesystems without hard links fall back to that check.
 */
function publish(tmp: string, file: string, overwrite: boolean): void {
  try {
    if (overwrite) {
      fs.renameSync(tmp, file);
      return;
    }
    try {
      fs.linkSync(tmp, file);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'EEXIST') throw alreadyExists(`${file} already exists`);
      if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'EOPNOTSUPP' && code !== 'ENOSYS') throw err;
      if (fs.existsSync(file)) throw alreadyExists(`${file} already exists`);
      fs.renameSync(tmp, file);
      return;
    }
    fs.unlinkSync(tmp);
  } catch (err) {
    removeQuietly(tmp);
    throw err;
  }
}

function writeAllSync(fd: number, data: Uint8Array): void {
  for (let off = 0; off < data.length; ) off += fs.writeSync(fd, data, off, data.length - off);
}

/** fsync, so a crash right after the rename cannot publish an empty file; filesystems that refuse it are tolerated. */
function syncData(fd: number): void {
  try {
    fs.fsyncSync(fd);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'EINVAL' && code !== 'ENOTSUP' && code !== 'EOPNOTSUPP') throw err;
  }
}

function discard(tmp: string, fd: number): void {
  try {
    fs.closeSync(fd);
  } catch {
    // already closed: the file is removed below either way
  }
  removeQuietly(tmp);
}

/** Removal on a failure path; a missing file is fine, any other failure surfaces. */
function removeQuietly(file: string): void {
  fs.rmSync(file, { force: true });
}
