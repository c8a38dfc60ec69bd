import { AdminClient } from '../lib/client/index.js';
import { ADMIN_SOCKET } from '../lib/api/index.js';
import { loadConfig } from '../lib/config/index.js';
import path from 'node:path';
import { BaseCommand, configFlags } from './base-command.js';

/** tctl commands: find the daemon's admin socket through -c / --data-dir / the default data dir. */
export abstract class AdminCommand extends BaseCommand {
  static override baseFlags = { ...BaseCommand.baseFlags, ...configFlags };

  protected adminClient(flags: { config?: string; 'data-dir'?: string }): AdminClient {
    const config = loadConfig({ configFile: flags.config, dataDir: flags['data-dir'] });
    return new AdminClient(path.join(config.dataDir, ADMIN_SOCKET));
  }
}
