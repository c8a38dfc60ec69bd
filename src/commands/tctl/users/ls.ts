import { AdminCommand } from '../../../cli/admin-command.js';
import { formatFlag } from '../../../cli/base-command.js';
import { renderTable } from '../../../cli/render.js';
import { adminRoutes } from '../../../lib/admin/index.js';

export default class UsersLs extends AdminCommand {
  static override summary = 'List users, their logins, roles and signup status.';
  static override flags = { format: formatFlag };

  async run(): Promise<void> {
    const { flags } = await this.parse(UsersLs);
    const users = await this.adminClient(flags).call(adminRoutes.listUsers);
    if (flags.format === 'json') {
      this.out(JSON.stringify(users.map((u) => ({ id: u.name, ...u })), null, 2));
      return;
    }
    this.out(renderTable(['User', 'Logins', 'Roles', 'Status', 'Created'], users.map((u) => [u.name, u.logins.join(','), u.roles.join(','), u.status, u.created_at])));
  }
}
