import fs from 'node:fs';
import path from 'node:path';
import { expect, it } from 'vitest';
import { ROOT, run } from '../helpers/proc.js';

/** `npm run demo` (after the README's install step) walks the whole tutorial and leaves nothing behind. */
it('npm run demo succeeds and cleans up', async () => {
  const r = await run(process.execPath, [path.join(ROOT, 'scripts/demo.mjs')], { cwd: ROOT, timeoutMs: 170_000 });
  expect(r.code, r.stdout + r.stderr).toBe(0);
  for (const step of ['$ teleport start', '$ tctl users add demo', '$ tsh login', '$ ssh-add -L', '$ tsh ssh', '$ tsh recordings ls', '$ tsh play']) expect(r.stdout).toContain(step);
  expect(r.stdout).toContain('recorded by tollgate');
  expect(r.stdout).toMatch(/The demo worked: recording [0-9a-f-]{36}, \d+ bytes of output, exit status 0\./);
  const work = /Key:\s+(\/\S+?)\/tsh\/keys\//.exec(r.stdout)![1]!;
  expect(fs.existsSync(work)).toBe(false);
}, 180_000);
