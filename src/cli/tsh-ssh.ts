import os from 'node:os';
import { profileDirFromEnv, ProfileStore, parseProxyAddress } from '../lib/profile/index.js';
import { proxyHostKeyOptions, runSsh } from '../lib/ssh-client/index.js';
import { badParameter } from '../lib/errors.js';

/** `tsh ssh`'s flags as parsed (by oclif, or by the fast path from the same class: fast-argv.ts). */
export interface TshSshFlags {
  port: number;
  login?: string;
  tty: boolean;
  'no-tty': boolean;
  'forward-agent': boolean;
  proxy?: string;
  user?: string;
}

/** tsh ssh's flags that take the next word as their value. */
const VALUE_FLAGS = new Set(['--port', '-p', '--login', '-l', '--proxy', '--user']);

/**
 * Flags come before HOST; everything after HOST belongs to the remote command (`tsh ssh node ls -la`).
 * Returns the words to parse as flags (`--` dropped), the destination and the remote command's words.
 */
export function splitSshArgv(argv: readonly string[]): { flagArgv: string[]; dest: string | undefined; rest: string[] } {
  let i = 0;
  while (i < argv.length && argv[i]!.startsWith('-')) {
    if (argv[i] === '--') {
      i++;
      break;
    }
    if (VALUE_FLAGS.has(argv[i]!)) i++;
    i++;
  }
  return { flagArgv: argv.slice(0, i).filter((a) => a !== '--'), dest: argv[i], rest: argv.slice(i + 1) };
}

/** `tsh ssh [flags] [LOGIN@]HOST [COMMAND...]` once parsed: one recorded session; returns its exit code. */
export async function tshSsh(flags: TshSshFlags, dest: string | undefined, rest: readonly string[]): Promise<number> {
  if (!dest) throw badParameter('no node given', 'usage: tsh ssh [--port=22] [-l LOGIN] [LOGIN@]HOST [COMMAND...]');
  const at = dest.lastIndexOf('@');
  const host = (at >= 0 ? dest.slice(at + 1) : dest).replace(/^\[(.*)\]$/, '$1');
  const login = flags.login ?? (at >= 0 ? dest.slice(0, at) : os.userInfo().username);
  if (!host) throw badParameter(`no host in "${dest}"`, 'usage: tsh ssh [LOGIN@]HOST');
  const command = rest.length ? rest.join(' ') : undefined;
  const pty = flags['no-tty'] ? false : flags.tty || (command === undefined && Boolean(process.stdin.isTTY));
  const profiles = new ProfileStore(profileDirFromEnv(process.env));
  const profile = profiles.current();
  if (flags.proxy && parseProxyAddress(flags.proxy).host !== profile.name) {
    throw badParameter(`not logged in to ${flags.proxy} (the active profile is ${profile.web_proxy_addr})`, `run tsh login --proxy=${flags.proxy}`);
  }
  if (flags.user && flags.user !== profile.user) throw badParameter(`logged in as ${profile.user}, not ${flags.user}`, `run tsh login --user=${flags.user}`);
  return runSsh({
    profile,
    target: { login, host, port: flags.port },
    command,
    pty,
    forwardUserAgent: flags['forward-agent'],
    userAgentSocket: process.env.SSH_AUTH_SOCK,
    stdin: process.stdin,
    stdout: process.stdout,
    stderr: process.stderr,
    hostKey: proxyHostKeyOptions(profiles, profile),
  });
}
