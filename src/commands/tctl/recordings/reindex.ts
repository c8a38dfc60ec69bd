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
  static override args = { id: Args.string({ description: 'session id (default: the newest 10,000 sessions, one at a time)' }) };
  static override flags = { format: formatFlag };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(RecordingsReindex);
    const admin = this.adminClient(flags);
    // One request per session, so no request outlasts the admin socket's timeout on a large store.
    const ids = args.id ? [args.id] : (await admin.call(adminRoutes.listSessions, { query: { limit: 10_000 } })).map((s) => s.id);
    const results = [];
    for (const id of ids) results.push(...(await admin.call(adminRoutes.reindexRecordings, { body: { id } })));
    this.out(
      renderListing(flags.format, results, [
        { header: 'ID', cell: (r) => r.id },
        { header: 'Lines', cell: (r) => String(r.lines) },
        { header: 'Note', cell: (r) => r.skipped ?? '' },
      ]),
    );
  }
}
