import fs from 'node:fs';
import { parseFast, type FastSpecFile } from './fast-argv.js';
import type { TshPlayFlags } from './tsh-play.js';
import type { TshSshFlags } from './tsh-ssh.js';

/** Beside each root's oclif manifest: the fast parser's spec of its hot commands (scripts/build.mjs). */
export const FAST_SPEC_FILE = 'fast-path.json';

/** The commands run without oclif when their command line is plain (see fast-argv.ts). */
export const FAST_COMMANDS: Readonly<Record<string, readonly string[]>> = { tsh: ['ssh', 'play'] };

function readSpecs(root: string): FastSpecFile | undefined {
  try {
    return JSON.parse(fs.readFileSync(`${root}${FAST_SPEC_FILE}`, 'utf8')) as FastSpecFile;
  } catch {
    return undefined; // not built with it: oclif runs every command
  }
}

/** What @oclif/core's command module does when loaded: a closed pipe (`tsh play | head`) ends output quietly. */
function swallowEpipe(): void {
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err && err.code === 'EPIPE') return;
    throw err;
  });
}

/**
 * Runs `args` (command id first) without oclif if the command is one of `FAST_COMMANDS` and its
 * command line parses with certainty; returns false, having done nothing, when oclif should run it
 * (help, an unusual or invalid command line, no spec). Errors propagate as from an oclif command.
 */
export async function runFastPath(bin: string, root: string, args: readonly string[]): Promise<boolean> {
  const id = args[0];
  const argv = args.slice(1);
  // oclif prints help for --help anywhere before `--` (even among tsh ssh's remote command).
  if (id === undefined || !FAST_COMMANDS[bin]?.includes(id) || argv.includes('--help')) return false;
  const spec = readSpecs(root)?.[id];
  if (!spec) return false;
  if (id === 'ssh') {
    const [{ splitSshArgv, tshSsh }, { assertSsh2Patched }] = await Promise.all([import('./tsh-ssh.js'), import('../lib/ssh/index.js')]);
    // The order of Ssh.run: the patch check, the split at HOST, then the flags.
    assertSsh2Patched();
    const { flagArgv, dest, rest } = splitSshArgv(argv);
    const parsed = parseFast(spec, flagArgv);
    if (!parsed) return false;
    swallowEpipe();
    process.exitCode = await tshSsh(parsed.flags as unknown as TshSshFlags, dest, rest);
    return true;
  }
  if (id !== 'play') return false;
  const parsed = parseFast(spec, argv);
  if (!parsed) return false;
  swallowEpipe();
  const { tshPlay } = await import('./tsh-play.js');
  await tshPlay(parsed.args.session!, parsed.flags as unknown as TshPlayFlags);
  return true;
}
