import { AdminCommand } from '../../../cli/admin-command.js';
import { formatFlag } from '../../../cli/base-command.js';
import { renderListing } from '../../../cli/render.js';
import { adminRoutes } from '../../../lib/api/index.js';

export default class UsersLs extends AdminCommand {
  static override summary = 'List users, their logins, roles and signup status.';
  static override flags = { format: formatFlag };

  async run(): Promise<void> {
    const { flags } = await this.parse(UsersLs);
    const users = await this.adminClient(flags).call(adminRoutes.listUsers);
    this.out(
      renderListing(
        flags.format,
        users,
        [
          { header: 'User', cell: (u) => u.name },
          { header: 'Logins', cell: (u) => u.logins.join(',') },
          { header: 'Roles', cell: (u) => u.roles.join(',') },
          { header: 'Node labels', cell: (u) => u.node_labels },
          { header: 'Status', cell: (u) => u.status },
          { header: 'Created', cell: (u) => u.created_at },
        ],
        (u) => ({ id: u.name, ...u }),
      ),
    );
  }
}
