import { AgentClient } from '../../lib/agent/index.js';
import { BaseCommand } from '../../cli/base-command.js';
import { logout } from '../../lib/client/index.js';
import { profileDirFromEnv, ProfileStore } from '../../lib/profile/index.js';

export default class Logout extends BaseCommand {
  static override summary = 'Remove your keys and certificates from disk and from the ssh-agent.';

  async run(): Promise<void> {
    await this.parse(Logout);
    const removed = await logout(new ProfileStore(profileDirFromEnv(process.env)), AgentClient.fromEnv(process.env));
    this.out(removed.length ? `Logged out ${removed.map((p) => `${p.user} from ${p.web_proxy_addr}`).join(', ')}.` : 'Not logged in.');
  }
}
