import { Flags } from '@oclif/core';
import { BaseCommand, formatFlag } from '../../../cli/base-command.js';
import { renderTable } from '../../../cli/render.js';
import { profileDirFromEnv, ProfileStore } from '../../../lib/client/index.js';
import { parseProxyAddress } from '../../../lib/client/index.js';
import { WebClient } from '../../../lib/client/index.js';
import { webApiRoutes } from '../../../lib/web/index.js';
import { sessionColumns } from '../../../lib/recording/index.js';

export default class RecordingsLs extends BaseCommand {
  static override summary = 'List recorded sessions you may replay (yours; everyone\'s with the auditor role).';
  static override flags = {
    from: Flags.string({ description: 'only sessions started at or after this date (ISO)' }),
    to: Flags.string({ description: 'only sessions started before this date (ISO)' }),
    user: Flags.string({ description: 'only this user\'s sessions (auditors)' }),
    format: formatFlag,
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(RecordingsLs);
    const p = new ProfileStore(profileDirFromEnv(process.env)).current();
    const query = { from: flags.from || undefined, to: flags.to || undefined, user: flags.user || undefined };
    const rows = await new WebClient(parseProxyAddress(p.web_proxy_addr), p.insecure, p.token).call(webApiRoutes.listSessions, { query });
    if (flags.format === 'json') {
      this.out(JSON.stringify(rows, null, 2));
      return;
    }
    this.out(
      renderTable(
        ['ID', 'User', 'Login', 'Node', 'Started', 'Duration', 'Exit', 'Kind', 'Bytes'],
        rows.map((r) => {
          const c = sessionColumns(r);
          return [r.id, r.user, r.login, r.node, r.started_at, c.duration, c.exit, r.kind, String(r.bytes_out)];
        }),
      ),
    );
  }
}
