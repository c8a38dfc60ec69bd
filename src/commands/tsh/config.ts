import { Flags } from '@oclif/core';
import { BaseCommand } from '../../cli/base-command.js';
import { parseProxyAddress, profileDirFromEnv, ProfileStore } from '../../lib/profile/index.js';
import { renderSshConfig, WebClient } from '../../lib/client/index.js';
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
      registered = (await new WebClient(parseProxyAddress(p.web_proxy_addr), p.insecure, p.token).call(webApiRoutes.listNodes)).map((n) => n.name);
    } catch (err) {
      process.stderr.write(`tsh: could not list registered nodes (${(err as Error).message}); every host gets ForwardAgent yes\n`);
    }
    this.out(renderSshConfig(p, profiles.knownHostsFile, flags.hosts, registered));
  }
}
