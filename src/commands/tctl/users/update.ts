import { Args, Flags } from '@oclif/core';
import { AdminCommand } from '../../../cli/admin-command.js';
import { formatFlag } from '../../../cli/base-command.js';
import { adminRoutes } from '../../../lib/api/index.js';
import { badParameter } from '../../../lib/errors.js';

export default class UsersUpdate extends AdminCommand {
  static override summary = "Change a user's logins, roles or node labels.";
  static override description = 'Certificates already issued keep their logins until they expire; node labels apply to the next session.';
  static override examples = ['<%= config.bin %> users update joe --set-node-labels=env=staging', '<%= config.bin %> users update joe --set-logins=joe,root --set-roles=access'];
  static override args = { user: Args.string({ description: 'tollgate user name', required: true }) };
  static override flags = {
    'set-logins': Flags.string({ description: 'comma-separated OS logins (replaces the current ones)' }),
    'set-roles': Flags.string({ description: 'comma-separated roles: access, auditor' }),
    'set-node-labels': Flags.string({ description: 'registered nodes the user may reach: k=v,k=v2 or * for all' }),
    format: formatFlag,
  };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(UsersUpdate);
    const body = { logins: flags['set-logins'], roles: flags['set-roles'], node_labels: flags['set-node-labels'] };
    if (Object.values(body).every((v) => v === undefined)) throw badParameter('nothing to update', 'give --set-logins, --set-roles or --set-node-labels');
    const u = await this.adminClient(flags).call(adminRoutes.updateUser, { params: { name: args.user }, body });
    this.out(flags.format === 'json' ? JSON.stringify({ id: u.name, ...u }, null, 2) : `user ${u.name} updated: logins ${u.logins.join(',')}, roles ${u.roles.join(',')}, node labels ${u.node_labels}`);
  }
}
