import { BaseCommand, formatFlag } from '../../../cli/base-command.js';
import { LIVE_SESSION_COLUMNS, renderListing } from '../../../cli/render.js';
import { profileDirFromEnv, ProfileStore } from '../../../lib/profile/index.js';
import { profileWebClient } from '../../../lib/client/index.js';
import { webApiRoutes } from '../../../lib/api/index.js';

export default class SessionsLs extends BaseCommand {
  static override summary = 'List the running sessions you may join (yours; everyone\'s with the auditor role).';
  static override examples = ['<%= config.bin %> sessions ls', '<%= config.bin %> sessions ls --format=json'];
  static override flags = { format: formatFlag };

  async run(): Promise<void> {
    const { flags } = await this.parse(SessionsLs);
    const p = new ProfileStore(profileDirFromEnv(process.env)).current();
    const rows = await profileWebClient(p).call(webApiRoutes.listActiveSessions, {});
    this.out(renderListing(flags.format, rows, LIVE_SESSION_COLUMNS));
  }
}
