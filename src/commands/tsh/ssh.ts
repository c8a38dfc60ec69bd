import os from 'node:os';
import { Flags } from '@oclif/core';
import { BaseCommand } from '../../cli/base-command.js';
import { profileDirFromEnv, ProfileStore, parseProxyAddress } from '../../lib/profile/index.js';
import { proxyHostKeyOptions, runSsh } from '../../lib/ssh-client/index.js';
import { badParameter } from '../../lib/errors.js';
import { assertSsh2Patched } from '../../lib/ssh/index.js';

export default class Ssh extends BaseCommand {
  static override summary = 'Open a recorded SSH session on a node through the proxy.';
  static override description = 'Everything after [USER@]HOST is the remote command, as with ssh. The exit code is the remote command\'s.';
  static override examples = ['<%= config.bin %> ssh root@node1', '<%= config.bin %> ssh --port=2222 -l ec2-user 10.0.0.5 uptime', "<%= config.bin %> ssh root@node1 'echo hello; exit 3'"];
  static override strict = false;
  static override flags = {
    port: Flags.integer({ char: 'p', description: 'SSH port of the node', default: 22, min: 1, max: 65535 }),
    login: Flags.string({ char: 'l', description: 'remote login (default: USER@ or your local user name)' }),
    tty: Flags.boolean({ char: 't', description: 'force a terminal (PTY) even with a command', default: false }),
    'no-tty': Flags.boolean({ char: 'T', description: 'never allocate a terminal', default: false }),
    'forward-agent': Flags.boolean({ char: 'A', description: 'forward your own ssh-agent to the node', default: false }),
    // Teleport's global flags (`tsh --proxy=HOST ssh node`): they must match the active profile.
    proxy: Flags.string({ description: 'proxy HOST[:PORT]; must be the profile you logged in to', helpGroup: 'GLOBAL' }),
    user: Flags.string({ description: 'tollgate user; must be the profile\'s', helpGroup: 'GLOBAL' }),
    insecure: Flags.boolean({ description: 'accepted for Teleport compatibility (the SSH proxy is always verified against the host CA)', default: false, helpGroup: 'GLOBAL', hidden: true }),
  };

  async run(): Promise<void> {
    // Logging in to the proxy with a certificate and checking its host certificate need patches/ssh2+1.17.0.patch.
    assertSsh2Patched();
    // Flags come before HOST; everything after HOST belongs to the remote command (`tsh ssh node ls -la`).
    const argv = this.argv;
    const valueFlags = new Set(['--port', '-p', '--login', '-l', '--proxy', '--user']);
    let i = 0;
    while (i < argv.length && argv[i]!.startsWith('-')) {
      if (argv[i] === '--') {
        i++;
        break;
      }
      if (valueFlags.has(argv[i]!)) i++;
      i++;
    }
    const { flags } = await this.parse(Ssh, argv.slice(0, i).filter((a) => a !== '--'));
    const dest = argv[i];
    if (!dest) throw badParameter('no node given', 'usage: tsh ssh [--port=22] [-l LOGIN] [LOGIN@]HOST [COMMAND...]');
    const rest = argv.slice(i + 1);
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
    const code = await runSsh({
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
    process.exitCode = code;
  }
}
