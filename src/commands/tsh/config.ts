import { Flags } from '@oclif/core';
import { BaseCommand } from '../../cli/base-command.js';
import { profileDirFromEnv, ProfileStore } from '../../lib/profile/index.js';
import { renderSshConfig } from '../../lib/client/index.js';

export default class Config extends BaseCommand {
  static override summary = 'Print an OpenSSH client config block so plain ssh goes through the proxy.';
  static override examples = ['<%= config.bin %> config >> ~/.ssh/config', '<%= config.bin %> config --hosts="*.example.com"'];
  static override flags = {
    hosts: Flags.string({ description: 'Host pattern of the nodes reached through the proxy', default: '*' }),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(Config);
    const profiles = new ProfileStore(profileDirFromEnv(process.env));
    this.out(renderSshConfig(profiles.current(), profiles.knownHostsFile, flags.hosts));
  }
}
