import { Args, Flags } from '@oclif/core';
import { adminRoutes } from '../../../lib/api/index.js';
import { AdminCommand } from '../../../cli/admin-command.js';

export default class SessionsEnd extends AdminCommand {
  static override summary = 'End a running session; its user and everyone watching see the message.';
  static override examples = ['<%= config.bin %> sessions end 5c0a... --message "maintenance"'];
  static override args = { id: Args.string({ description: 'session id (tctl sessions ls --active)', required: true }) };
  static override flags = {
    message: Flags.string({ char: 'm', description: 'shown to every participant and kept in the audit log (session.end reason)' }),
  };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(SessionsEnd);
    const r = await this.adminClient(flags).call(adminRoutes.endSession, { params: { id: args.id }, body: { message: flags.message } });
    if (r.ended) this.out(`session ${r.id} ended`);
    else this.out(`asked the daemon that relays session ${r.id} to end it; it has not confirmed yet (see tctl sessions ls --active)`);
  }
}
