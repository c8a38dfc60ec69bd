import { Args } from '@oclif/core';
import { adminRoutes } from '../../../lib/api/index.js';
import { AdminCommand } from '../../../cli/admin-command.js';
import { formatFlag } from '../../../cli/base-command.js';
import { renderListing } from '../../../cli/render.js';

export default class RecordingsReindex extends AdminCommand {
  static override summary = 'Rebuild the search index of a recording, or of every recording.';
  static override description =
    'Reads each recording (.cast) through the terminal emulator again and replaces its indexed lines: for recordings made before search existed, or after an indexer was dropped. The command log (session.command events) is not rebuilt: it is made only while a session runs.';
  static override examples = ['<%= config.bin %> recordings reindex', '<%= config.bin %> recordings reindex 5f1c…'];
  static override args = { id: Args.string({ description: 'session id (default: every ended session)' }) };
  static override flags = { format: formatFlag };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(RecordingsReindex);
    const results = await this.adminClient(flags).call(adminRoutes.reindexRecordings, { body: args.id ? { id: args.id } : {} });
    this.out(
      renderListing(flags.format, results, [
        { header: 'ID', cell: (r) => r.id },
        { header: 'Lines', cell: (r) => String(r.lines) },
        { header: 'Note', cell: (r) => r.skipped ?? '' },
      ]),
    );
  }
}
