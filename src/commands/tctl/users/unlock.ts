import { Args } from '@oclif/core';
import { AdminCommand } from '../../../cli/admin-command.js';
import { adminRoutes } from '../../../lib/api/index.js';

export default class UsersUnlock extends AdminCommand {
  static override summary = "End a user's web login lockout after failed passwords; the password, second factor and certificates stay.";
  static override args = { user: Args.string({ description: 'user name', required: true }) };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(UsersUnlock);
    await this.adminClient(flags).call(adminRoutes.unlockUser, { params: { name: args.user } });
    this.out(`user ${args.user} unlocked`);
  }
}
