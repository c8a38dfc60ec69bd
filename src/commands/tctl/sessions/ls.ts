import { Flags } from '@oclif/core';
import { adminRoutes } from '../../../lib/api/index.js';
import { AdminCommand } from '../../../cli/admin-command.js';
import { formatFlag } from '../../../cli/base-command.js';
import { renderListing, SESSION_COLUMNS } from '../../../cli/render.js';

export default class SessionsLs extends AdminCommand {
  static override summary = 'List recorded sessions, newest first.';
  static override flags = {
    user: Flags.string({ description: 'only this user\'s sessions' }),
    limit: Flags.integer({ description: 'at most this many', default: 50, min: 1, max: 10_000 }),
    format: formatFlag,
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(SessionsLs);
    const rows = await this.adminClient(flags).call(adminRoutes.listSessions, { query: { limit: flags.limit, user: flags.user } });
    this.out(renderListing(flags.format, rows, SESSION_COLUMNS));
  }
}
