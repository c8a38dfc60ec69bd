import { AdminCommand } from '../../../cli/admin-command.js';
import { formatFlag } from '../../../cli/base-command.js';
import { renderListing } from '../../../cli/render.js';
import { adminRoutes } from '../../../lib/api/index.js';

export default class LocksLs extends AdminCommand {
  static override summary = 'List the locks in force.';
  static override flags = { format: formatFlag };

  async run(): Promise<void> {
    const { flags } = await this.parse(LocksLs);
    const locks = await this.adminClient(flags).call(adminRoutes.listLocks);
    this.out(
      renderListing(
        flags.format,
        locks,
        [
          { header: 'ID', cell: (l) => l.id },
          { header: 'Target', cell: (l) => `${l.kind}=${l.target}` },
          { header: 'Message', cell: (l) => l.message },
          { header: 'Expires', cell: (l) => l.expires_at ?? 'never' },
          { header: 'Created', cell: (l) => l.created_at },
        ],
        (l) => l,
      ),
    );
  }
}
