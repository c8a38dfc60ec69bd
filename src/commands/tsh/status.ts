import { BaseCommand, formatFlag } from '../../cli/base-command.js';
import { renderProfile } from '../../cli/tsh-output.js';
import { profileDirFromEnv, ProfileStore } from '../../lib/profile/index.js';

export default class Status extends BaseCommand {
  static override summary = 'Show the active profile and how long its certificate is valid.';
  static override flags = { format: formatFlag };

  async run(): Promise<void> {
    const { flags } = await this.parse(Status);
    const p = new ProfileStore(profileDirFromEnv(process.env)).current();
    if (flags.format === 'json') {
      const { token: _secret, ...visible } = p;
      this.out(JSON.stringify({ id: p.name, ...visible, valid_for_seconds: Math.max(0, Math.floor((Date.parse(p.valid_before) - Date.now()) / 1000)) }, null, 2));
      return;
    }
    this.out(renderProfile(p, new Date(), [['Key', p.key_file]]));
  }
}
