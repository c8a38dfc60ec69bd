import { Flags } from '@oclif/core';
import { adminRoutes } from '../../../lib/admin/index.js';
import { AdminCommand } from '../../../cli/admin-command.js';
import { formatFlag } from '../../../cli/base-command.js';
import { renderTable } from '../../../cli/render.js';

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
    if (flags.format === 'json') {
      this.out(JSON.stringify(events, null, 2));
      return;
    }
    this.out(
      renderTable(
        ['Time', 'Event', 'User', 'Details'],
        events.map(({ id: _id, event, time, user, ...rest }) => [time, event, user ?? '', Object.entries(rest).map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`).join(' ')]),
      ),
    );
  }
}
