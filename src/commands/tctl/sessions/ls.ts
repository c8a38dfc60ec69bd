import { Flags } from '@oclif/core';
import { adminRoutes } from '../../../lib/admin/index.js';
import { AdminCommand } from '../../../cli/admin-command.js';
import { formatFlag } from '../../../cli/base-command.js';
import { renderTable } from '../../../cli/render.js';
import { sessionColumns } from '../../../lib/recording/index.js';

const size = (n: number) => (n >= 1 << 20 ? `${(n / (1 << 20)).toFixed(1)} MiB` : n >= 1024 ? `${(n / 1024).toFixed(1)} KiB` : `${n} B`);

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
    if (flags.format === 'json') {
      this.out(JSON.stringify(rows, null, 2));
      return;
    }
    this.out(
      renderTable(
        ['ID', 'User', 'Login', 'Node', 'Started', 'Duration', 'Exit', 'Kind', 'Size'],
        rows.map((r) => {
          const c = sessionColumns(r);
          return [r.id, r.user, r.login, r.node, r.started_at, c.duration, c.exit, r.kind, size(r.bytes_out)];
        }),
      ),
    );
  }
}
