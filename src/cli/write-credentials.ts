import fs from 'node:fs';
import path from 'node:path';
import { alreadyExists, badParameter } from '../lib/errors.js';
import { writeFilesAtomic } from '../lib/fs/index.js';

/**
 * Writes files all-or-nothing (fs/atomic-write.ts); refuses to replace existing files unless
 * `overwrite` (a key someone relies on must not vanish silently). Checked up front for a message
 * naming the -o path; the writer refuses again atomically if one appears meanwhile.
 */
export function writeFilesAtomically(files: readonly { path: string; data: string; mode: number }[], overwrite: boolean): void {
  for (const f of files) {
    const dir = path.dirname(f.path);
    if (!fs.existsSync(dir)) throw badParameter(`directory ${dir} does not exist`, 'create it first or choose another -o path');
    if (!overwrite && fs.existsSync(f.path)) throw alreadyExists(`${f.path} already exists`, 'choose another -o path, or pass --overwrite');
  }
  writeFilesAtomic(files, { overwrite });
}
