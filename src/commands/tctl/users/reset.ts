import { Args, Flags } from '@oclif/core';
import { adminRoutes } from '../../../lib/api/index.js';
import { AdminCommand } from '../../../cli/admin-command.js';
import { formatFlag } from '../../../cli/base-command.js';
import { renderInvite } from '../../../cli/invite.js';
import { parseDuration } from '../../../lib/duration.js';

export default class UsersReset extends AdminCommand {
  static override summary = "Clear a user's password and second factor and print a new signup link.";
  static override args = { user: Args.string({ description: 'user name', required: true }) };
  static override flags = {
    ttl: Flags.string({ description: 'how long the signup link is valid (max 48h)', default: '1h' }),
    format: formatFlag,
  };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(UsersReset);
    const invite = await this.adminClient(flags).call(adminRoutes.resetUser, {
      params: { name: args.user },
      body: { ttl_ms: parseDuration(flags.ttl, '--ttl') },
    });
    this.out(flags.format === 'json' ? JSON.stringify(invite, null, 2) : renderInvite(invite, 'reset'));
  }
}
