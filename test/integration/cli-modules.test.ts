import { describe, expect, it } from 'vitest';
import { ROOT, run } from '../helpers/proc.js';

/*
 * What a command loads does not depend on NODE_ENV. oclif, under NODE_ENV=development or test,
 * looks for a command's TypeScript source and loads the TypeScript compiler to read a tsconfig:
 * 18 MB more heap in every process, the daemon's SSH workers included, which each full garbage
 * collection then marks (the daemon spent a third more CPU per byte relayed under vitest).
 */
const probe = `
import { createRequire } from 'node:module';
const cache = createRequire(process.cwd() + '/').cache;
process.on('exit', () => process.stderr.write('\\n[typescript ' + (Object.keys(cache).some((k) => k.includes('/node_modules/typescript/')) ? 'loaded' : 'not loaded') + ']\\n'));
process.argv.splice(1, 0, 'bin/tctl');
await import('./bin/tctl');
`;

describe('CLI modules', () => {
  it('a command run through oclif does not load the TypeScript compiler, whatever NODE_ENV says', async () => {
    for (const nodeEnv of ['development', 'test', 'production']) {
      const r = await run(process.execPath, ['--input-type=module', '-e', probe, '--', 'version'], { cwd: ROOT, env: { ...process.env, NODE_ENV: nodeEnv } });
      expect(r.code, r.stderr).toBe(0);
      expect(r.stderr.trim(), nodeEnv).toBe('[typescript not loaded]');
    }
  });
});
