import { BaseCommand, formatFlag } from '../../cli/base-command.js';
import { NODE_COLUMNS, renderListing } from '../../cli/render.js';
import { webApiRoutes } from '../../lib/api/index.js';
import { profileWebClient } from '../../lib/client/index.js';
import { profileDirFromEnv, ProfileStore } from '../../lib/profile/index.js';

export default class Ls extends BaseCommand {
  static override summary = 'List the registered nodes you may reach, with their labels (tsh ssh LOGIN@NODE).';
  static override flags = { format: formatFlag };

  async run(): Promise<void> {
    const { flags } = await this.parse(Ls);
    const p = new ProfileStore(profileDirFromEnv(process.env)).current();
    const nodes = await profileWebClient(p).call(webApiRoutes.listNodes);
    this.out(renderListing(flags.format, nodes, NODE_COLUMNS, (n) => ({ id: n.name, name: n.name, addr: n.addr, labels: n.labels })));
  }
}
