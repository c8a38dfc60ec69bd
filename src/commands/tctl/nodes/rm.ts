import { Args } from '@oclif/core';
import { AdminCommand } from '../../../cli/admin-command.js';
import { adminRoutes } from '../../../lib/api/index.js';

export default class NodesRm extends AdminCommand {
  static override summary = 'Remove a node from the inventory (its sshd keeps its config; remove the TrustedUserCAKeys line there too).';
  static override args = { name: Args.string({ description: 'node name', required: true }) };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(NodesRm);
    await this.adminClient(flags).call(adminRoutes.deleteNode, { params: { name: args.name } });
    this.out(`node ${args.name} removed`);
  }
}
