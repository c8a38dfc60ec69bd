import { Args } from '@oclif/core';
import { adminRoutes } from '../../../lib/api/index.js';
import { AdminCommand } from '../../../cli/admin-command.js';

export default class UsersRm extends AdminCommand {
  static override summary = 'Delete a user (their certificates stop working at the proxy at once).';
  static override args = { user: Args.string({ description: 'user name', required: true }) };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(UsersRm);
    await this.adminClient(flags).call(adminRoutes.deleteUser, { params: { name: args.user } });
    this.out(`User "${args.user}" has been deleted`);
  }
}
