import { Flags } from '@oclif/core';
import { BaseCommand, configFlags } from '../../cli/base-command.js';
import { parseDaemonRoles } from '../../cli/roles.js';
import { waitForStopSignal } from '../../cli/signals.js';
import { loadConfig } from '../../lib/config/index.js';
import { createLogger } from '../../lib/log.js';

export default class Start extends BaseCommand {
  static override summary = 'Start the tollgate daemon: auth service (CA, users, audit) and recording proxy.';
  static override description =
    'Runs in the foreground and logs one line per event to stderr. Reads -c FILE, else /etc/teleport.yaml when it exists, else embedded defaults. Stop with Ctrl-C or SIGTERM.';
  static override examples = ['<%= config.bin %> start', '<%= config.bin %> start --roles=auth,proxy -c /etc/teleport.yaml', '<%= config.bin %> start --data-dir /tmp/tollgate'];
  static override flags = {
    ...configFlags,
    roles: Flags.string({ description: 'comma-separated roles to run: auth, proxy (default: the enabled services in the config, else both)' }),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(Start);
    const roles = flags.roles === undefined ? undefined : parseDaemonRoles(flags.roles);
    const config = loadConfig({ configFile: flags.config, dataDir: flags['data-dir'], roles });
    const log = createLogger({ level: flags.debug ? 'debug' : config.logLevel, ...(config.logOutput === 'stdout' ? { write: (line: string) => void process.stdout.write(line) } : {}) });
    const { startDaemon } = await import('../../lib/runtime.js');
    // Listen before starting, so a signal that arrives during start-up still shuts down cleanly.
    const stopSignal = waitForStopSignal(() => {
      log.warn('second signal: exiting without a clean shutdown', { component: 'daemon' });
      process.exit(1);
    });
    const daemon = await startDaemon(config, log);
    const sig = await stopSignal;
    log.info('stopping', { component: 'daemon', signal: sig });
    await daemon.close();
    log.info('stopped', { component: 'daemon' });
  }
}
