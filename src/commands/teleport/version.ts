import { BaseCommand } from '../../cli/base-command.js';
import { VERSION } from '../../lib/version.js';

export default class Version extends BaseCommand {
  static override summary = 'Print the version.';
  async run(): Promise<void> {
    await this.parse(Version);
    this.out(`Teleport-compatible tollgate v${VERSION} node ${process.version}`);
  }
}
