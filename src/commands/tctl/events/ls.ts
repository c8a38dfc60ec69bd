import { Flags } from '@oclif/core';
import { adminRoutes } from '../../../lib/api/index.js';
import { AdminCommand } from '../../../cli/admin-command.js';
import { formatFlag } from '../../../cli/base-command.js';
import { renderListing } from '../../../cli/render.js';

export default class EventsLs extends AdminCommand {
  static override summary = 'List audit events, newest first.';
  static override examples = ['<%= config.bin %> events ls --type=user.create,cert.create', '<%= config.bin %> events ls --user=joe --format=json'];
  static override flags = {
    type: Flags.string({ description: 'comma-separated event names (user.create, cert.create, user.login, ...)' }),
    user: Flags.string({ description: 'only events about this user' }),
    limit: Flags.integer({ description: 'at most this many events', default: 50, min: 1, max: 10_000 }),
    format: formatFlag,
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(EventsLs);
    const events = await this.adminClient(flags).call(adminRoutes.listEvents, { query: { limit: flags.limit, type: flags.type, user: flags.user } });
    const details = ({ id: _id, event: _event, time: _time, user: _user, ...rest }: (typeof events)[number]) =>
      Object.entries(rest)
        .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
        .join(' ');
    this.out(
      renderListing(flags.format, events, [
        { header: 'Time', cell: (e) => e.time },
        { header: 'Event', cell: (e) => e.event },
        { header: 'User', cell: (e) => e.user ?? '' },
        { header: 'Details', cell: details },
      ]),
    );
  }
}
