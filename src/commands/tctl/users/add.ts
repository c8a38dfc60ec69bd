import { Args, Flags } from '@oclif/core';
import { adminRoutes } from '../../../lib/api/index.js';
import { AdminCommand } from '../../../cli/admin-command.js';
import { formatFlag } from '../../../cli/base-command.js';
import { renderInvite } from '../../../cli/invite.js';
import { parseDuration } from '../../../lib/duration.js';
import { badParameter } from '../../../lib/errors.js';

export default class UsersAdd extends AdminCommand {
  static override summary = 'Create a user allowed the given OS logins and print their signup link.';
  static override examples = ['<%= config.bin %> users add joe joe,root,ec2-user', '<%= config.bin %> users add alice --logins=alice --roles=access,auditor --ttl=24h', '<%= config.bin %> users add bob bob --node-labels=env=staging,team=db'];
  static override args = {
    user: Args.string({ description: 'tollgate user name', required: true }),
    logins: Args.string({ description: 'comma-separated OS logins the user may use (joe,root)' }),
  };
  static override flags = {
    logins: Flags.string({ description: 'comma-separated OS logins (alternative to the positional argument)' }),
    roles: Flags.string({ description: 'comma-separated roles: access, auditor', default: 'access' }),
    'node-labels': Flags.string({ description: 'registered nodes the user may reach, by label: k=v,k=v2 or * for all', default: '*' }),
    ttl: Flags.string({ description: 'how long the signup link is valid (max 48h)', default: '1h' }),
    format: formatFlag,
  };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(UsersAdd);
    const logins = args.logins ?? flags.logins;
    if (args.logins && flags.logins) throw badParameter('logins given twice', 'use either the positional LOGINS or --logins');
    if (!logins) throw badParameter('no logins given', `name the OS logins ${args.user} may use, e.g. tctl users add ${args.user} ${args.user},root`);
    const ttlMs = parseDuration(flags.ttl, '--ttl');
    const invite = await this.adminClient(flags).call(adminRoutes.addUser, { body: { name: args.user, logins, roles: flags.roles, node_labels: flags['node-labels'], ttl_ms: ttlMs } });
    this.out(flags.format === 'json' ? JSON.stringify(invite, null, 2) : renderInvite(invite, 'created'));
  }
}
