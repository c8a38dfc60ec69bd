import { Flags } from '@oclif/core';
import { adminRoutes } from '../../../lib/api/index.js';
import { AdminCommand } from '../../../cli/admin-command.js';
import { formatFlag } from '../../../cli/base-command.js';
import { LIVE_SESSION_COLUMNS, renderListing, SESSION_COLUMNS } from '../../../cli/render.js';

export default class SessionsLs extends AdminCommand {
  static override summary = 'List recorded sessions, newest first (--active: the running ones, on every daemon).';
  static override flags = {
    user: Flags.string({ description: 'only this user\'s sessions' }),
    limit: Flags.integer({ description: 'at most this many', default: 50, min: 1, max: 10_000 }),
    active: Flags.boolean({ description: 'only running sessions, with idle time and participants', default: false }),
    format: formatFlag,
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(SessionsLs);
    if (flags.active) {
      const live = await this.adminClient(flags).call(adminRoutes.listActiveSessions, {});
      this.out(renderListing(flags.format, flags.user ? live.filter((s) => s.user === flags.user) : live, LIVE_SESSION_COLUMNS));
      return;
    }
    const rows = await this.adminClient(flags).call(adminRoutes.listSessions, { query: { limit: flags.limit, user: flags.user } });
    this.out(renderListing(flags.format, rows, SESSION_COLUMNS));
  }
}
