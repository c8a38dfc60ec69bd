import fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import { moveLeadingFlags } from './argv.js';
import { FAST_COMMANDS, runFastPath } from './fast-path.js';
import { exitCodeFor, isTollgateError } from '../lib/errors.js';

export type BinName = 'tsh' | 'tctl' | 'teleport';

/** Pre-rendered root help beside each root's manifest. */
export const HELP_FILE = 'help.txt';

/** Global flags each binary accepts before the command id, and whether they take a value. */
const VALUE_FLAGS: Record<BinName, string[]> = {
  tsh: ['--proxy', '--user', '--ttl', '-l', '--login', '--format'],
  tctl: ['-c', '--config', '--data-dir', '--format'],
  teleport: ['-c', '--config', '--data-dir', '--roles', '--diag-addr'],
};

function rootDir(bin: BinName): string {
  return fileURLToPath(new URL(`../../roots/${bin}/`, import.meta.url));
}

function commandIds(root: string): Set<string> {
  try {
    const manifest = JSON.parse(fs.readFileSync(`${root}/oclif.manifest.json`, 'utf8')) as { commands: Record<string, unknown> };
    return new Set(Object.keys(manifest.commands).map((id) => id.replaceAll(':', ' ')));
  } catch {
    return new Set();
  }
}

/** Renders any error as one line on stderr and returns the exit code. The only place that does. */
export function renderError(err: unknown, debug: boolean): number {
  const e = err as { oclif?: { exit?: number }; message?: string; code?: string; stack?: string };
  if (e?.code === 'EEXIT') return e.oclif?.exit ?? 0;
  if (debug && e?.stack) process.stderr.write(`${e.stack}\n`);
  if (isTollgateError(err)) {
    process.stderr.write(`ERROR: ${err.message}${err.hint ? `; ${err.hint}` : ''}\n`);
    return exitCodeFor(err.kind);
  }
  if (e?.oclif) {
    // oclif's own usage errors (unknown flag, missing argument): first line, then where help is.
    const first = String(e.message ?? 'invalid command line').split('\n')[0]!.trim();
    process.stderr.write(`ERROR: ${first}; see --help\n`);
    return e.oclif.exit ?? 2;
  }
  // ExitPromptError from @inquirer when the user presses Ctrl-C.
  if ((err as Error)?.name === 'ExitPromptError') {
    process.stderr.write('ERROR: cancelled\n');
    return 130;
  }
  process.stderr.write(`ERROR: ${e?.message ?? String(err)}${debug ? '' : ' (run with --debug for details)'}\n`);
  return 1;
}

/** Entry point of bin/tsh, bin/tctl and bin/teleport. */
export async function main(bin: BinName, argv: readonly string[]): Promise<void> {
  const root = rootDir(bin);
  // The root help, rendered by oclif at build time (scripts/build.mjs), like its command manifest:
  // `tsh --help` need not load oclif and every command's flags to print the same text.
  if (argv.length === 0 || (argv.length === 1 && (argv[0] === '--help' || argv[0] === '-h'))) {
    try {
      process.stdout.write(fs.readFileSync(`${root}${HELP_FILE}`));
      return;
    } catch {
      // not built with it: oclif renders it
    }
  }
  const args = moveLeadingFlags(argv, new Set(VALUE_FLAGS[bin]), commandIds(root));
  const debug = args.includes('--debug');
  try {
    // tsh ssh and tsh play skip loading oclif when their command line is plain (fast-path.ts).
    if (FAST_COMMANDS[bin] && (await runFastPath(bin, root, args))) return;
    const { run, flush, settings } = await import('@oclif/core');
    // tollgate runs its compiled commands only. Under NODE_ENV=development or test (a developer's
    // shell, vitest) oclif would otherwise look for TypeScript sources and load the TypeScript
    // compiler to read a tsconfig: 18 MB more heap in every process, the daemon's SSH workers too,
    // which every full garbage collection then marks.
    settings.enableAutoTranspile = false;
    await run(args, root);
    await flush();
  } catch (err) {
    process.exitCode = renderError(err, debug);
    // A process started with an IPC channel (a daemon's SSH worker) would be kept alive by it: a
    // worker whose start failed must exit, so its primary sees the failure.
    if (process.channel) process.disconnect();
  }
}
