import { Command, Flags } from '@oclif/core';

/**
 * Every tollgate command's base: the `--debug` flag. Errors are not printed here: they propagate
 * to the CLI entry point (src/cli/main.ts), the one place that turns them into a line and an exit code.
 */
export abstract class BaseCommand extends Command {
  static override baseFlags = {
    debug: Flags.boolean({ description: 'show debug output and stack traces', default: false, helpGroup: 'GLOBAL' }),
  };

  /** Writes a line to stdout (oclif's log, kept for symmetry with tests that capture it). */
  protected out(text: string): void {
    process.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
  }
}

/** Flags that locate the daemon's configuration and data dir (teleport, tctl). */
export const configFlags = {
  config: Flags.string({ char: 'c', description: 'path to teleport.yaml (default /etc/teleport.yaml when it exists)', helpGroup: 'GLOBAL' }),
  'data-dir': Flags.string({ description: 'data directory (default from the config, else /var/lib/teleport for root)', helpGroup: 'GLOBAL' }),
};

/** `--format=text|json` for every listing. */
export const formatFlag = Flags.string({ description: 'output format', options: ['text', 'json'], default: 'text' });
