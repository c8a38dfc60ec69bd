import { Args, Flags } from '@oclif/core';
import { BaseCommand, formatFlag } from '../../../cli/base-command.js';
import { renderSearchHits } from '../../../cli/render.js';
import { profileDirFromEnv, ProfileStore } from '../../../lib/profile/index.js';
import { profileWebClient } from '../../../lib/client/index.js';
import { webApiRoutes } from '../../../lib/api/index.js';

export default class RecordingsSearch extends BaseCommand {
  static override summary = 'Search what recorded sessions showed (yours; everyone\'s with the auditor role).';
  static override description =
    'QUERY: words (all must match), "a phrase", prefix*; punctuation separates words, so needle-42 is the phrase "needle 42". Each hit names the session, its user, login and node, the time into the recording (for tsh play ID --from=OFFSET) and the line with the lines around it. Best matches first, newer sessions first on ties.';
  static override examples = ['<%= config.bin %> recordings search needle-42', '<%= config.bin %> recordings search \'"rm -rf" /var\' --user=joe --from=2026-11-01', '<%= config.bin %> recordings search deplo* --format=json'];
  static override args = { query: Args.string({ description: 'what to search for', required: true }) };
  static override flags = {
    user: Flags.string({ description: 'only this user\'s sessions (auditors)' }),
    node: Flags.string({ description: 'only sessions on this node (host, or host:port)' }),
    from: Flags.string({ description: 'only sessions started at or after this date (ISO)' }),
    to: Flags.string({ description: 'only sessions started before this date (ISO)' }),
    limit: Flags.integer({ description: 'at most this many hits', default: 20, min: 1, max: 1000 }),
    skip: Flags.integer({ description: 'leave out the first N hits (the next page)', default: 0, min: 0 }),
    format: formatFlag,
  };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(RecordingsSearch);
    const p = new ProfileStore(profileDirFromEnv(process.env)).current();
    const query = { q: args.query, user: flags.user || undefined, node: flags.node || undefined, from: flags.from || undefined, to: flags.to || undefined, limit: flags.limit, skip: flags.skip || undefined };
    const hits = await profileWebClient(p).call(webApiRoutes.searchSessions, { query });
    this.out(renderSearchHits(flags.format, hits));
  }
}
