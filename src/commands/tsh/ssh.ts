import { Flags } from '@oclif/core';
import { BaseCommand } from '../../cli/base-command.js';
import { splitSshArgv, tshSsh } from '../../cli/tsh-ssh.js';
import { assertSsh2Patched } from '../../lib/ssh/index.js';

export default class Ssh extends BaseCommand {
  static override summary = 'Open a recorded SSH session on a node through the proxy.';
  static override description = 'Everything after [USER@]HOST is the remote command, as with ssh. The exit code is the remote command\'s.';
  static override examples = ['<%= config.bin %> ssh root@node1', '<%= config.bin %> ssh --port=2222 -l ec2-user 10.0.0.5 uptime', "<%= config.bin %> ssh root@node1 'echo hello; exit 3'"];
  static override strict = false;
  static override flags = {
    port: Flags.integer({ char: 'p', description: 'SSH port of the node', default: 22, min: 1, max: 65535 }),
    login: Flags.string({ char: 'l', description: 'remote login (default: USER@ or your local user name)' }),
    tty: Flags.boolean({ char: 't', description: 'force a terminal (PTY) even with a command', default: false }),
    'no-tty': Flags.boolean({ char: 'T', description: 'never allocate a terminal', default: false }),
    'forward-agent': Flags.boolean({ char: 'A', description: 'forward your own ssh-agent to the node', default: false }),
    // Teleport's global flags (`tsh --proxy=HOST ssh node`): they must match the active profile.
    proxy: Flags.string({ description: 'proxy HOST[:PORT]; must be the profile you logged in to', helpGroup: 'GLOBAL' }),
    user: Flags.string({ description: 'tollgate user; must be the profile\'s', helpGroup: 'GLOBAL' }),
    insecure: Flags.boolean({ description: 'accepted for Teleport compatibility (the SSH proxy is always verified against the host CA)', default: false, helpGroup: 'GLOBAL', hidden: true }),
  };

  async run(): Promise<void> {
    // Logging in to the proxy with a certificate and checking its host certificate need patches/ssh2+1.17.0.patch.
    assertSsh2Patched();
    const { flagArgv, dest, rest } = splitSshArgv(this.argv);
    const { flags } = await this.parse(Ssh, flagArgv);
    process.exitCode = await tshSsh(flags, dest, rest);
  }
}
