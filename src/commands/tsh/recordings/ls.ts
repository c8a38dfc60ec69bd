import { Flags } from '@oclif/core';
import { BaseCommand, formatFlag } from '../../../cli/base-command.js';
import { renderListing, SESSION_COLUMNS } from '../../../cli/render.js';
import { profileDirFromEnv, ProfileStore } from '../../../lib/profile/index.js';
import { profileWebClient } from '../../../lib/client/index.js';
import { webApiRoutes } from '../../../lib/api/index.js';

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
    const rows = await profileWebClient(p).call(webApiRoutes.listSessions, { query });
    this.out(renderListing(flags.format, rows, SESSION_COLUMNS));
  }
}
