import fs from 'node:fs';
import { Flags } from '@oclif/core';
import { BaseCommand } from '../../cli/base-command.js';
import { profileDirFromEnv, ProfileStore } from '../../lib/profile/index.js';
import { renderSshConfig, profileWebClient } from '../../lib/client/index.js';
import { webApiRoutes } from '../../lib/api/index.js';

export default class Config extends BaseCommand {
  static override summary = 'Print an OpenSSH client config block so plain ssh goes through the proxy.';
  static override examples = ['<%= config.bin %> config >> ~/.ssh/config', '<%= config.bin %> config --hosts="*.example.com"'];
  static override flags = {
    hosts: Flags.string({ description: 'Host pattern of the nodes reached through the proxy', default: '*' }),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(Config);
    const profiles = new ProfileStore(profileDirFromEnv(process.env));
    const p = profiles.current();
    // Registered nodes get no agent forwarding; without the proxy the block still works (with -A for all).
    let registered: string[] = [];
    try {
      registered = (await profileWebClient(p).call(webApiRoutes.listNodes)).map((n) => n.name);
    } catch (err) {
      process.stderr.write(`tsh: could not list registered nodes (${(err as Error).message}); every host gets ForwardAgent yes\n`);
    }
    // The proxied file exists only after a login by this version; older profiles keep the scoped file alone.
    const proxied = fs.existsSync(profiles.proxiedKnownHostsFile) ? profiles.proxiedKnownHostsFile : undefined;
    this.out(renderSshConfig(p, profiles.knownHostsFile, flags.hosts, registered, proxied));
  }
}
