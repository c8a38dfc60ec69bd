import { Args, Flags } from '@oclif/core';
import { BaseCommand } from '../../cli/base-command.js';
import { profileDirFromEnv, ProfileStore } from '../../lib/profile/index.js';
import { proxyHostKeyOptions, runSsh } from '../../lib/ssh-client/index.js';
import { assertSsh2Patched } from '../../lib/ssh/index.js';

export default class Join extends BaseCommand {
  static override summary = 'Watch a running session (or type into your own with --mode=peer).';
  static override description =
    'Paints the session\'s current screen, then follows it until it ends. Detach with Ctrl-] (an observer also with q). ' +
    'An observer\'s keys never reach the session. Auditors may observe anyone\'s sessions; everyone may join their own.';
  static override examples = ['<%= config.bin %> join 5c0a...', '<%= config.bin %> join --mode=peer 5c0a...'];
  static override args = { id: Args.string({ description: 'session id (tsh sessions ls)', required: true }) };
  static override flags = {
    mode: Flags.string({ description: 'observer: watch only; peer: your keys go to the session (your own sessions)', options: ['observer', 'peer'], default: 'observer' }),
  };

  async run(): Promise<void> {
    assertSsh2Patched();
    const { args, flags } = await this.parse(Join);
    const profiles = new ProfileStore(profileDirFromEnv(process.env));
    const profile = profiles.current();
    process.exitCode = await runSsh({
      profile,
      target: undefined,
      command: undefined,
      pty: false,
      forwardUserAgent: false,
      userAgentSocket: undefined,
      stdin: process.stdin,
      stdout: process.stdout,
      stderr: process.stderr,
      hostKey: proxyHostKeyOptions(profiles, profile),
      join: { id: args.id, mode: flags.mode as 'observer' | 'peer' },
    });
  }
}
