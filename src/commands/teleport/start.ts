import { Flags } from '@oclif/core';
import { BaseCommand, configFlags } from '../../cli/base-command.js';
import { parseDaemonRoles } from '../../cli/roles.js';
import { onSignal, waitForStopSignal } from '../../cli/signals.js';
import { loadConfig, type Config, type ConfigInputs } from '../../lib/config/index.js';
import { createLogControl, LogFile, type LogControl, type Logger } from '../../lib/log.js';
import { badParameter } from '../../lib/errors.js';
import { primaryConfig, serveWorker, workerSlot } from '../../lib/cluster/index.js';

export default class Start extends BaseCommand {
  static override summary = 'Start the tollgate daemon: auth service (CA, users, audit) and recording proxy.';
  static override description = [
    'Runs in the foreground and logs one line per event (text or JSON, teleport.log.format) to stderr, stdout or a file.',
    'Reads -c FILE, else /etc/teleport.yaml when it exists, else embedded defaults.',
    'teleport.workers (default auto: one per core) sets how many processes accept and relay SSH sessions; the first process keeps the web, admin and diag listeners and passes signals on to them.',
    'Signals: SIGTERM/SIGINT stop accepting, let running sessions finish for up to teleport.drain_timeout (default 30s), then end the rest and exit 0; SIGHUP re-reads the config and applies the log level, allowed_targets, drain_timeout and the HTTPS certificate files; SIGUSR1 reopens the log file (logrotate).',
  ].join(' ');
  static override examples = [
    '<%= config.bin %> start',
    '<%= config.bin %> start --roles=auth,proxy -c /etc/teleport.yaml',
    '<%= config.bin %> start --data-dir /tmp/tollgate',
    '<%= config.bin %> start --diag-addr=127.0.0.1:3000',
    '<%= config.bin %> start --workers=1',
  ];
  static override flags = {
    ...configFlags,
    roles: Flags.string({ description: 'comma-separated roles to run: auth, proxy (default: the enabled services in the config, else both)' }),
    'diag-addr': Flags.string({ description: 'serve /metrics, /healthz and /readyz over plain HTTP on HOST:PORT (teleport.diag_addr; off by default)' }),
    workers: Flags.string({ description: 'processes that accept and relay SSH sessions: auto (one per core, the default) or 1-64 (teleport.workers)' }),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(Start);
    const roles = flags.roles === undefined ? undefined : parseDaemonRoles(flags.roles);
    const inputs: ConfigInputs = { configFile: flags.config, dataDir: flags['data-dir'], roles, diagAddr: flags['diag-addr'], workers: flags.workers };
    // A worker runs with the configuration its primary runs with (a worker restarted after the
    // file was edited must not listen elsewhere or record otherwise); SIGHUP re-reads the file.
    const handed = workerSlot() !== undefined ? primaryConfig() : undefined;
    const config = handed ? (handed as Config) : loadConfig(inputs);
    let file: LogFile | undefined;
    if (config.logOutput === 'file') {
      try {
        file = new LogFile(config.logFile!);
      } catch (err) {
        throw badParameter(`cannot open the log file ${config.logFile} (teleport.log.output): ${(err as NodeJS.ErrnoException).code ?? String(err)}`, 'create its directory or pick a writable path', err);
      }
    }
    const write = file ? (line: string) => file.write(line) : config.logOutput === 'stdout' ? (line: string) => void process.stdout.write(line) : undefined;
    const logs = createLogControl({ level: flags.debug ? 'debug' : config.logLevel, format: config.logFormat, ...(write ? { write } : {}) });
    const slot = workerSlot();
    if (slot !== undefined) return this.runWorker(slot, inputs, config, logs, file);
    const log = logs.log;
    logUnhandledRejections(log);
    const { startDaemon } = await import('../../lib/runtime.js');
    // Listen before starting, so a signal that arrives during start-up still shuts down cleanly.
    let abort: (() => void) | undefined;
    const stopSignal = waitForStopSignal(() => {
      log.warn('second signal: exiting without a clean shutdown', { component: 'daemon' });
      abort?.();
      process.exit(1);
    });
    const daemon = await startDaemon(config, log, { logControl: logs });
    abort = () => daemon.abort();
    const offHup = onSignal('SIGHUP', async () => {
      let next;
      try {
        next = loadConfig(inputs);
      } catch (err) {
        log.error('SIGHUP: the config was not reloaded; the daemon goes on with the old one', { component: 'daemon', error: (err as Error).message });
        return;
      }
      try {
        await daemon.reload(next);
      } catch (err) {
        log.error('SIGHUP: reload failed; the daemon goes on with what it had', { component: 'daemon', error: (err as Error).message });
      }
    });
    const offUsr1 = onSignal('SIGUSR1', () => {
      daemon.reopenLogs();
      if (!file) return log.info('SIGUSR1: logs go to a stream, not a file; nothing to reopen', { component: 'daemon' });
      try {
        file.reopen();
        log.info('reopened the log file', { component: 'daemon', file: file.path });
      } catch (err) {
        log.error('cannot reopen the log file; still writing to the old one', { component: 'daemon', file: file.path, error: (err as NodeJS.ErrnoException).code ?? String(err) });
      }
    });
    const sig = await stopSignal;
    log.info('stopping', { component: 'daemon', signal: sig });
    await daemon.shutdown();
    offHup();
    offUsr1();
    log.info('stopped', { component: 'daemon' });
    file?.close();
  }

  /**
   * An SSH worker (teleport.workers > 1), forked by the daemon's primary with the same arguments:
   * its signals come from the primary (reload, reopen the log, drain and stop) over the cluster
   * channel, so a Ctrl-C that reaches the whole process group is acted on once, by the primary.
   */
  private async runWorker(slot: number, inputs: ConfigInputs, config: Config, logs: LogControl, file: LogFile | undefined): Promise<void> {
    const log = logs.log.child({ worker: slot });
    logUnhandledRejections(log);
    const { startSshWorker } = await import('../../lib/worker-runtime.js');
    let stop!: (reason: string) => void;
    const stopped = new Promise<string>((r) => (stop = r));
    const ignore = () => undefined;
    process.on('SIGINT', ignore);
    process.on('SIGHUP', ignore);
    process.on('SIGUSR1', ignore);
    // systemd's KillMode=control-group sends SIGTERM to every process: drain as the primary asks.
    process.once('SIGTERM', () => stop('SIGTERM'));
    let worker: Awaited<ReturnType<typeof startSshWorker>> | undefined;
    let reloading = Promise.resolve();
    const off = serveWorker({
      reload: () => {
        reloading = reloading.then(async () => {
          try {
            await worker?.reload(loadConfig(inputs));
          } catch (err) {
            log.error('reload failed; the worker goes on with what it had', { component: 'daemon', error: (err as Error).message });
          }
        });
      },
      reopenLog: () => {
        try {
          file?.reopen();
        } catch (err) {
          log.error('cannot reopen the log file; still writing to the old one', { component: 'daemon', error: (err as NodeJS.ErrnoException).code ?? String(err) });
        }
      },
      shutdown: (reason) => stop(reason),
      lost: () => {
        log.error('the daemon\'s primary process is gone; this worker exits with it (its sessions are closed as interrupted at the next start)', { component: 'daemon' });
        process.exit(1);
      },
      metrics: () => worker?.metrics() ?? Promise.resolve([]),
      live: () => worker?.liveSessions() ?? Promise.resolve([]),
      watch: (sid, user, emit) => worker?.watch(sid, user, emit) ?? Promise.resolve('still starting'),
    });
    try {
      worker = await startSshWorker(config, log, slot, { logControl: logs });
    } catch (err) {
      // The primary sees this worker exit during start-up and fails its own start. Whatever the
      // failed start left behind must not keep it alive (its primary would wait for it).
      off();
      process.disconnect?.();
      setTimeout(() => process.exit(1), 2_000).unref();
      throw err;
    }
    const reason = await stopped;
    log.info('stopping', { component: 'daemon', reason });
    await worker.shutdown();
    off();
    log.info('stopped', { component: 'daemon' });
    file?.close();
    process.off('SIGINT', ignore);
    process.off('SIGHUP', ignore);
    process.off('SIGUSR1', ignore);
    // The cluster channel would keep the process alive: the work is done.
    process.disconnect?.();
  }
}

/**
 * A promise rejected with nobody to handle it is a bug, but Node's default (ending the process)
 * would cut every running session and its recording for it: it is logged with its stack, as an
 * error, and the daemon goes on. A thrown exception still ends the process (its state is unknown).
 */
function logUnhandledRejections(log: Logger): void {
  process.on('unhandledRejection', (reason) => {
    const err = reason instanceof Error ? reason : new Error(String(reason));
    log.error('unhandled promise rejection (a bug: please report it); the daemon goes on', { component: 'daemon', error: err.message, stack: err.stack?.split('\n').slice(1, 6).map((l) => l.trim()).join(' | ') });
  });
}
