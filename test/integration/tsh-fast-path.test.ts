import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT, run, tmpDir, type RunResult } from '../helpers/proc.js';

/*
 * `tsh ssh` and `tsh play` start without oclif when their command line is plain (src/cli/fast-path.ts).
 * Each command line here runs twice: as bin/tsh (noting whether @oclif/core was loaded) and through
 * oclif alone (what bin/tsh did before the fast path); output, errors and exit codes must match.
 */
let dir: string;
let cast: string;
let env: NodeJS.ProcessEnv;

beforeAll(() => {
  dir = tmpDir('tollgate-fast-path-');
  cast = path.join(dir, 'small.cast');
  const events = [[0.01, 'o', 'hello\r\n'], [0.02, 'i', 'ls\r'], [0.03, 'o', 'world \u001b[1mbold\u001b[0m\r\n']];
  fs.writeFileSync(cast, [JSON.stringify({ version: 2, width: 80, height: 24, timestamp: 0 }), ...events.map((e) => JSON.stringify(e))].join('\n') + '\n');
  // No tsh login: the commands that need a profile fail the same way on both paths.
  env = { ...process.env, TELEPORT_HOME: path.join(dir, 'home'), SSH_AUTH_SOCK: '' };
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const MARK = '\n[oclif loaded]\n';
/** bin/tsh as installed, with a note on stderr at exit if @oclif/core was loaded. */
const viaBin = `
import { createRequire } from 'node:module';
const cache = createRequire(process.cwd() + '/').cache;
process.on('exit', () => { if (Object.keys(cache).some((k) => k.includes('@oclif/core'))) process.stderr.write(${JSON.stringify(MARK)}); });
process.argv.splice(1, 0, 'bin/tsh');
await import('./bin/tsh');
`;
/** The oclif path alone: bin/tsh before the fast path (the same root, the same error rendering). */
const viaOclif = `
const [{ run, flush }, { renderError }] = await Promise.all([import('@oclif/core'), import('./dist/cli/main.js')]);
const args = process.argv.slice(1);
try { await run(args, ${JSON.stringify(path.join(ROOT, 'roots/tsh/'))}); await flush(); } catch (err) { process.exitCode = renderError(err, args.includes('--debug')); }
`;
const node = (code: string, args: string[]): Promise<RunResult> => run(process.execPath, ['--input-type=module', '-e', code, '--', ...args], { cwd: ROOT, env });

async function both(args: string[]): Promise<{ fast: boolean }> {
  const [bin, oclif] = await Promise.all([node(viaBin, args), node(viaOclif, args)]);
  const loaded = bin.stderr.endsWith(MARK);
  const mine = { ...bin, stderr: loaded ? bin.stderr.slice(0, -MARK.length) : bin.stderr };
  expect(mine, args.join(' ')).toEqual(oclif);
  return { fast: !loaded };
}

describe('tsh fast path', () => {
  it('plays a recording as oclif did, without loading oclif', async () => {
    for (const args of [
      ['play', cast, '--format=text'],
      ['play', '--format', 'json', cast],
      ['play', cast, '--format=raw'],
      ['play', cast, '--format=pty', '--speed=16'],
      ['play', cast, '--from=0.02', '--format=text', '--raw-escapes'],
      ['play', '--speed=99', cast],
      ['play', '--from=1s', '--format=json', cast],
      ['play', '--input', cast],
      ['play', cast, '--verify'],
      ['play', path.join(dir, 'missing.cast')],
      ['play', 'not-a-session-id'],
    ]) {
      expect((await both(args)).fast, args.join(' ')).toBe(true);
    }
  });

  it('gives the same errors and help as oclif for the command lines it leaves to oclif', async () => {
    for (const args of [['play'], ['play', 'a', 'b'], ['play', '--bogus', cast], ['play', '--format=bogus', cast], ['play', '--help'], ['ssh', '--help'], ['ssh', '--port=0', 'h'], ['ssh', '--bogus', 'h'], ['ssh', '-p2222', 'h'], ['ssh', 'h', 'ls', '--help']]) {
      expect((await both(args)).fast, args.join(' ')).toBe(false);
    }
  });

  it('runs tsh ssh itself up to the same errors', async () => {
    for (const args of [['ssh'], ['ssh', '-t', '-l', 'root'], ['ssh', 'root@node1', 'true'], ['ssh', '--proxy=p.example.com', '-p', '2222', 'node1']]) {
      expect((await both(args)).fast, args.join(' ')).toBe(true);
    }
  });
});
