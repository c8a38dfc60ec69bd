import fs from 'node:fs';
import path from 'node:path';
import { alreadyExists, badParameter } from '../errors.js';

/**
 * Writes files all-or-nothing: each to a temporary name beside it, then renamed; refuses to
 * replace existing files unless `overwrite` (a key someone relies on must not vanish silently).
 */
export function writeFilesAtomically(files: readonly { path: string; data: string; mode: number }[], overwrite: boolean): void {
  for (const f of files) {
    const dir = path.dirname(f.path);
    if (!fs.existsSync(dir)) throw badParameter(`directory ${dir} does not exist`, 'create it first or choose another -o path');
    if (!overwrite && fs.existsSync(f.path)) throw alreadyExists(`${f.path} already exists`, 'choose another -o path, or pass --overwrite');
  }
  const temps: string[] = [];
  try {
    for (const f of files) {
      const tmp = `${f.path}.tmp-${process.pid}`;
      fs.writeFileSync(tmp, f.data, { mode: f.mode, flag: 'wx' });
      fs.chmodSync(tmp, f.mode);
      temps.push(tmp);
    }
    files.forEach((f, i) => fs.renameSync(temps[i]!, f.path));
  } catch (err) {
    for (const t of temps) fs.rmSync(t, { force: true });
    throw err;
  }
}
