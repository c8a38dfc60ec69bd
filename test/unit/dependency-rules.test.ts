import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const run = promisify(execFile);
const root = path.resolve(import.meta.dirname, '../..');
const depcruise = path.join(root, 'node_modules/.bin/depcruise');
const config = path.join(root, '.dependency-cruiser.cjs');

/** Runs the project's dependency rules over a made-up source tree; returns the exit code and report. */
async function cruise(files: Record<string, string>): Promise<{ code: number; out: string }> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tollgate-deps-'));
  try {
    fs.writeFileSync(path.join(dir, 'tsconfig.json'), JSON.stringify({ compilerOptions: { module: 'NodeNext', moduleResolution: 'NodeNext', allowJs: true } }));
    for (const [name, text] of Object.entries(files)) {
      fs.mkdirSync(path.dirname(path.join(dir, name)), { recursive: true });
      fs.writeFileSync(path.join(dir, name), text);
    }
    const r = await run(depcruise, ['src', '--config', config], { cwd: dir }).then(
      (ok) => ({ code: 0, out: ok.stdout }),
      (err: { code: number; stdout: string }) => ({ code: err.code, out: err.stdout }),
    );
    return r;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

describe('dependency rules (npm run check:deps, run by npm test)', () => {
  it('the project itself passes', async () => {
    const r = await run(depcruise, ['src', '--config', config], { cwd: root });
    expect(r.stdout).toMatch(/no dependency violations found/);
  });

  it('fail on a cycle between two folders, even when no module cycle exists', async () => {
    const r = await cruise({
      'src/lib/a/one.ts': "import { two } from '../b/index.js';\nexport const one = () => two;\n",
      'src/lib/a/index.ts': "export { one } from './one.js';\nexport { three } from './three.js';\n",
      'src/lib/a/three.ts': 'export const three = 3;\n',
      'src/lib/b/two.ts': "import { three } from '../a/index.js';\nexport const two = three;\n",
      'src/lib/b/index.ts': "export { two } from './two.js';\n",
    });
    expect(r.code).not.toBe(0);
    expect(r.out).toMatch(/no-folder-cycle/);
  });

  it('fail on a deep import into another folder, and on lib importing the CLI or oclif', async () => {
    const r = await cruise({
      'src/lib/a/one.ts': "import { two } from '../b/two.js';\nexport const one = () => two;\n",
      'src/lib/a/index.ts': "export { one } from './one.js';\n",
      'src/lib/b/two.ts': 'export const two = 2;\n',
      'src/lib/b/index.ts': "export { two } from './two.js';\n",
      'src/lib/c/three.ts': "import { run } from '../../cli/run.js';\nexport const three = run;\n",
      'src/lib/c/index.ts': "export { three } from './three.js';\n",
      'src/cli/run.ts': "import { one } from '../lib/a/one.js';\nexport const run = one;\n",
    });
    expect(r.code).not.toBe(0);
    expect(r.out).toMatch(/no-deep-import-between-folders: src\/lib\/a\/one\.ts → src\/lib\/b\/two\.ts/);
    expect(r.out).toMatch(/lib-not-cli: src\/lib\/c\/three\.ts → src\/cli\/run\.ts/);
    expect(r.out).toMatch(/no-deep-import-from-outside-lib: src\/cli\/run\.ts → src\/lib\/a\/one\.ts/);
  });
});
