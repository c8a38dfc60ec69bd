import { spawn } from 'node:child_process';
import fs from 'node:fs';
import { unavailable } from '../errors.js';
import type { Logger } from '../log.js';

/** Where Debian and most distributions install sshd. */
export const DEFAULT_SSHD = '/usr/sbin/sshd';
/** sshd's default PidFile, used for the last-resort SIGHUP. */
const SSHD_PID_FILE = '/run/sshd.pid';
/** The connection `sshd -T` evaluates Match blocks for: root logging in from the machine itself. */
const TEST_CONNECTION = 'user=root,host=localhost,addr=127.0.0.1';

interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
  /** Set when the program could not be started at all (ENOENT). */
  spawnError?: Error;
}

/** Runs a program to completion without a shell, bounded in time (sshd -t never waits on anything). */
function runCommand(cmd: string, args: readonly string[], timeoutMs = 30_000): Promise<RunResult> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', (err) => {
      clearTimeout(timer);
      resolve({ code: null, stdout, stderr, spawnError: err });
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

function firstLines(text: string): string {
  return text.trim().split('\n').slice(0, 3).join('; ');
}

/** `sshd -t -f CONFIG`: undefined when sshd accepts the config, else sshd's own message. */
export async function sshdTest(sshd: string, config: string): Promise<string | undefined> {
  const r = await runCommand(sshd, ['-t', '-f', config]);
  if (r.spawnError) throw unavailable(`cannot run ${sshd}: ${r.spawnError.message}`, 'install openssh-server, or pass the path of sshd');
  return r.code === 0 ? undefined : firstLines(r.stderr || r.stdout) || `sshd -t exited with ${r.code}`;
}

/** What sshd would use: `sshd -T`'s keyword → values (repeated keywords such as hostkey collect). */
export type EffectiveConfig = Map<string, string[]>;

/** `sshd -T -f CONFIG -C ...`: the effective settings, or sshd's message when it refuses the config. */
export async function sshdEffective(sshd: string, config: string): Promise<EffectiveConfig | string> {
  const r = await runCommand(sshd, ['-T', '-f', config, '-C', TEST_CONNECTION]);
  if (r.spawnError) throw unavailable(`cannot run ${sshd}: ${r.spawnError.message}`, 'install openssh-server, or pass the path of sshd');
  if (r.code !== 0) return firstLines(r.stderr || r.stdout) || `sshd -T exited with ${r.code}`;
  const out: EffectiveConfig = new Map();
  for (const line of r.stdout.split('\n')) {
    const sp = line.indexOf(' ');
    if (sp <= 0) continue;
    const key = line.slice(0, sp);
    out.set(key, [...(out.get(key) ?? []), line.slice(sp + 1)]);
  }
  return out;
}

/**
 * Makes the running sshd re-read its config. With `command`, exactly that; otherwise the
 * systemd unit (Debian names it ssh, others sshd), then SIGHUP to the pid in /run/sshd.pid.
 * Returns a line saying how; throws `unavailable` with what to do when nothing worked.
 */
export async function reloadSshd(command: readonly string[] | undefined, log: Logger): Promise<string> {
  const tried: string[] = [];
  const attempts = command ? [command] : [['systemctl', 'reload', 'ssh'], ['systemctl', 'reload', 'sshd']];
  for (const [cmd, ...args] of attempts) {
    if (!cmd) continue;
    const r = await runCommand(cmd, args);
    const shown = [cmd, ...args].join(' ');
    if (r.code === 0) return `reloaded sshd (${shown})`;
    const why = r.spawnError ? r.spawnError.message : firstLines(r.stderr) || `exit ${r.code}`;
    tried.push(`${shown}: ${why}`);
    log.debug('sshd reload attempt failed', { command: shown, error: why });
  }
  if (!command) {
    try {
      const pid = Number.parseInt(fs.readFileSync(SSHD_PID_FILE, 'utf8').trim(), 10);
      if (Number.isInteger(pid) && pid > 1) {
        process.kill(pid, 'SIGHUP');
        return `reloaded sshd (SIGHUP to pid ${pid} from ${SSHD_PID_FILE})`;
      }
      tried.push(`${SSHD_PID_FILE}: no pid in it`);
    } catch (err) {
      tried.push(`${SSHD_PID_FILE}: ${(err as Error).message}`);
    }
  }
  throw unavailable(
    `the node is joined and its sshd config checks out, but sshd could not be reloaded (${tried.join('; ')})`,
    'reload sshd yourself (systemctl reload ssh, or kill -HUP the sshd listener); running the join again will not retry it',
  );
}
