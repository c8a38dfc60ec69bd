import fs from 'node:fs';
import path from 'node:path';
import { Flags } from '@oclif/core';
import { BaseCommand, configFlags } from '../../../cli/base-command.js';
import { DEFAULTS, defaultKeysFile, loadConfig } from '../../../lib/config/index.js';
import { alreadyExists, isTollgateError } from '../../../lib/errors.js';
import { writeFileAtomic } from '../../../lib/fs/index.js';
import { systemdUnit } from '../../../lib/install/index.js';

export default class InstallSystemd extends BaseCommand {
  static override summary = 'Print (or write) a systemd unit for the daemon.';
  static override description = [
    'The unit runs `teleport start -c CONFIG --data-dir DIR` with hardening (NoNewPrivileges, ProtectSystem=strict with the data dir writable, PrivateTmp),',
    'reloads with SIGHUP (systemctl reload) and gives SIGTERM time to drain sessions (TimeoutStopSec = teleport.drain_timeout + 30s).',
    'The config file is read, when it exists, for its data_dir, drain_timeout and log file.',
  ].join(' ');
  static override examples = [
    '<%= config.bin %> install systemd > /etc/systemd/system/teleport.service',
    '<%= config.bin %> install systemd -c /etc/teleport.yaml --output=/etc/systemd/system/teleport.service && systemctl daemon-reload',
  ];
  static override flags = {
    ...configFlags,
    output: Flags.string({ char: 'o', description: 'write the unit to FILE (mode 0644) instead of stdout' }),
    overwrite: Flags.boolean({ description: 'replace --output when it exists', default: false }),
    'diag-addr': Flags.string({ description: 'add --diag-addr=HOST:PORT to the unit\'s command line' }),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(InstallSystemd);
    const configFile = path.resolve(flags.config ?? DEFAULTS.systemConfigFile);
    // The unit runs as root under systemd: its data dir defaults to the system one, not this user's.
    let dataDir = flags['data-dir'] ? path.resolve(flags['data-dir']) : DEFAULTS.systemDataDir;
    let drainTimeoutMs: number = DEFAULTS.drainTimeoutMs;
    let logFile: string | undefined;
    let keysFile: string | undefined = defaultKeysFile(dataDir);
    if (fs.existsSync(configFile)) {
      const config = loadConfig({ configFile, dataDir: flags['data-dir'], systemDataDir: DEFAULTS.systemDataDir, env: {} });
      if (config.dataDirSource === 'flag' || config.dataDirSource === 'config') dataDir = config.dataDir;
      drainTimeoutMs = config.drainTimeoutMs;
      logFile = config.logFile;
      keysFile = config.keys.kind === 'file' ? config.keys.file : undefined;
    } else {
      process.stderr.write(`WARNING: ${configFile} does not exist yet; write it before starting the unit (teleport start -c refuses a missing file)\n`);
    }
    const unit = systemdUnit({
      node: process.execPath,
      bin: path.resolve(process.argv[1] ?? 'teleport'),
      configFile,
      dataDir,
      drainTimeoutMs,
      ...(logFile ? { logFile } : {}),
      ...(keysFile ? { keysFile } : {}),
      ...(flags['diag-addr'] ? { diagAddr: flags['diag-addr'] } : {}),
    });
    if (!flags.output) return void process.stdout.write(unit);
    try {
      writeFileAtomic(path.resolve(flags.output), unit, { mode: 0o644, overwrite: flags.overwrite });
    } catch (err) {
      if (isTollgateError(err) && err.kind === 'already-exists') throw alreadyExists(`${path.resolve(flags.output)} already exists`, 'add --overwrite to replace it');
      throw err;
    }
    process.stderr.write(`wrote ${path.resolve(flags.output)}; then: systemctl daemon-reload && systemctl enable --now ${path.basename(flags.output)}\n`);
  }
}
