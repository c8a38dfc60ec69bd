import { Args } from '@oclif/core';
import { AdminCommand } from '../../../cli/admin-command.js';
import { adminRoutes } from '../../../lib/api/index.js';

export default class LocksRm extends AdminCommand {
  static override summary = 'Remove a lock: what it refused may start again (re-export the KRL for legacy nodes).';
  static override args = { id: Args.string({ description: 'lock id (tctl locks ls)', required: true }) };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(LocksRm);
    await this.adminClient(flags).call(adminRoutes.deleteLock, { params: { id: args.id } });
    this.out(`lock ${args.id} removed`);
  }
}
