import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { writeFileAtomic, writeFileAtomicStream, writeFilesAtomic } from '../../src/lib/fs/atomic-write.js';
import { tmpDir } from '../helpers/proc.js';

let dir: string;
beforeEach(() => {
  dir = tmpDir('tollgate-atomic-');
});
afterEach(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

const mode = (f: string) => fs.statSync(f).mode & 0o777;
/** Nothing but `names` in the directory: no temporary file left behind. */
const only = (...names: string[]) => expect(fs.readdirSync(dir).sort()).toEqual(names.sort());

function withUmask<T>(mask: number, body: () => T): T {
  const old = process.umask(mask);
  try {
    return body();
  } finally {
    process.umask(old);
  }
}

describe('writeFileAtomic', () => {
  it('writes the data with exactly the mode asked for, whatever the umask', () => {
    const key = path.join(dir, 'key');
    const cert = path.join(dir, 'cert');
    withUmask(0o000, () => writeFileAtomic(key, 'secret\n', { mode: 0o600 }));
    withUmask(0o077, () => writeFileAtomic(cert, Buffer.from('public\n'), { mode: 0o644 }));
    expect(fs.readFileSync(key, 'utf8')).toBe('secret\n');
    expect(mode(key)).toBe(0o600);
    expect(fs.readFileSync(cert, 'utf8')).toBe('public\n');
    expect(mode(cert)).toBe(0o644);
    only('key', 'cert');
  });

  it('refuses to replace a file unless asked, and then replaces it whole', () => {
    const f = path.join(dir, 'profile.json');
    fs.writeFileSync(f, 'old');
    expect(() => writeFileAtomic(f, 'new', { mode: 0o600 })).toThrow(expect.objectContaining({ kind: 'already-exists' }));
    expect(fs.readFileSync(f, 'utf8')).toBe('old');
    only('profile.json');
    writeFileAtomic(f, 'new', { mode: 0o600, overwrite: true });
    expect(fs.readFileSync(f, 'utf8')).toBe('new');
    expect(mode(f)).toBe(0o600);
    only('profile.json');
  });

  it('never writes through a symlink planted at the name', () => {
    const target = path.join(dir, 'elsewhere');
    fs.writeFileSync(target, 'untouched');
    fs.symlinkSync(target, path.join(dir, 'link'));
    expect(() => writeFileAtomic(path.join(dir, 'link'), 'x', { mode: 0o600 })).toThrow(expect.objectContaining({ kind: 'already-exists' }));
    writeFileAtomic(path.join(dir, 'link'), 'x', { mode: 0o600, overwrite: true });
    expect(fs.readFileSync(target, 'utf8')).toBe('untouched');
    expect(fs.lstatSync(path.join(dir, 'link')).isFile()).toBe(true);
  });

  it('leaves nothing behind when the directory is missing', () => {
    expect(() => writeFileAtomic(path.join(dir, 'no', 'file'), 'x', { mode: 0o600 })).toThrow(/ENOENT/);
    only();
  });
});

describe('writeFileAtomicStream', () => {
  it('publishes what fill wrote, with the mode asked for', async () => {
    const f = path.join(dir, 'export.html');
    await withUmask(0o022, () =>
      writeFileAtomicStream(
        f,
        async (out) => {
          for (let i = 0; i < 1000; i++) if (!out.write(`line ${i}\n`)) await new Promise((r) => out.once('drain', r));
        },
        { mode: 0o600 },
      ),
    );
    expect(fs.readFileSync(f, 'utf8').split('\n')).toHaveLength(1001);
    expect(mode(f)).toBe(0o600);
    only('export.html');
  });

  it('a fill that fails halfway leaves no file and no partial file, and keeps an existing one', async () => {
    const f = path.join(dir, 'export.cast');
    const failing = async (out: NodeJS.WritableStream) => {
      out.write('half of it\n');
      throw new Error('the source went away');
    };
    await expect(writeFileAtomicStream(f, failing, { mode: 0o600 })).rejects.toThrow('the source went away');
    only();
    fs.writeFileSync(f, 'previous export');
    await expect(writeFileAtomicStream(f, failing, { mode: 0o600, overwrite: true })).rejects.toThrow('the source went away');
    expect(fs.readFileSync(f, 'utf8')).toBe('previous export');
    only('export.cast');
  });

  it('refuses to replace a file unless asked, leaving nothing behind', async () => {
    const f = path.join(dir, 'export.cast');
    fs.writeFileSync(f, 'keep');
    await expect(writeFileAtomicStream(f, async (out) => void out.write('new'), { mode: 0o600 })).rejects.toMatchObject({ kind: 'already-exists' });
    expect(fs.readFileSync(f, 'utf8')).toBe('keep');
    only('export.cast');
  });
});

describe('writeFilesAtomic', () => {
  it('writes all the files or none: one that exists fails the call and removes those it created', () => {
    const files = ['a', 'b', 'c'].map((n) => ({ path: path.join(dir, n), data: `${n}\n`, mode: 0o600 }));
    fs.writeFileSync(files[2]!.path, 'existing');
    expect(() => writeFilesAtomic(files)).toThrow(expect.objectContaining({ kind: 'already-exists' }));
    only('c');
    expect(fs.readFileSync(files[2]!.path, 'utf8')).toBe('existing');
    writeFilesAtomic(files, { overwrite: true });
    for (const f of files) {
      expect(fs.readFileSync(f.path, 'utf8')).toBe(f.data);
      expect(mode(f.path)).toBe(0o600);
    }
    only('a', 'b', 'c');
  });
});
