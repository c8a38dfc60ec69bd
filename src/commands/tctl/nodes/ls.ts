import { AdminCommand } from '../../../cli/admin-command.js';
import { formatFlag } from '../../../cli/base-command.js';
import { NODE_COLUMNS, renderListing } from '../../../cli/render.js';
import { adminRoutes } from '../../../lib/api/index.js';

export default class NodesLs extends AdminCommand {
  static override summary = 'List registered nodes: name, address, labels, host key.';
  static override flags = { format: formatFlag };

  async run(): Promise<void> {
    const { flags } = await this.parse(NodesLs);
    const nodes = await this.adminClient(flags).call(adminRoutes.listNodes);
    this.out(
      renderListing(flags.format, nodes, [...NODE_COLUMNS, { header: 'Added by', cell: (n) => n.added_by }, { header: 'Host key', cell: (n) => n.host_key_fingerprint ?? '-' }], (n) => ({ id: n.name, ...n })),
    );
  }
}
