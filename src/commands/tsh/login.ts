import os from 'node:os';
import { Flags } from '@oclif/core';
import { AgentClient } from '../../lib/agent/index.js';
import { BaseCommand } from '../../cli/base-command.js';
import { renderProfile } from '../../cli/tsh-output.js';
import { login, type AddKeysToAgent } from '../../lib/client/index.js';
import { profileDirFromEnv, ProfileStore } from '../../lib/profile/index.js';
import { parseDuration } from '../../lib/duration.js';
import { badParameter } from '../../lib/errors.js';

export default class Login extends BaseCommand {
  static override summary = 'Log in to a cluster: get a short-lived certificate and load it into your ssh-agent.';
  static override examples = ['<%= config.bin %> login --proxy=proxy.example.com --user=joe', '<%= config.bin %> login --proxy=127.0.0.1:3080 --fingerprint=sha256:0123...cdef --ttl=1h'];
  static override flags = {
    proxy: Flags.string({ description: 'proxy address HOST[:PORT] (port 3080 by default); defaults to the current profile\'s', helpGroup: 'GLOBAL' }),
    user: Flags.string({ description: 'tollgate user name (default: your local user name)', helpGroup: 'GLOBAL' }),
    ttl: Flags.string({ description: 'certificate lifetime, e.g. 8h (capped by the cluster; default 12h)' }),
    insecure: Flags.boolean({ description: 'do not verify the proxy\'s TLS certificate for this login (testing only; never saved: the key seen is pinned)', default: false, helpGroup: 'GLOBAL' }),
    fingerprint: Flags.string({ description: 'the proxy\'s TLS key pin, sha256:HEX as tctl status prints it: trust a self-signed proxy without a prompt' }),
    'add-keys-to-agent': Flags.string({ description: 'load the key into the running ssh-agent', options: ['auto', 'yes', 'no'], default: 'auto' }),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(Login);
    const profiles = new ProfileStore(profileDirFromEnv(process.env));
    const previous = profiles.load();
    const proxy = flags.proxy ?? previous?.web_proxy_addr;
    if (!proxy) throw badParameter('no proxy given', 'use tsh login --proxy=HOST[:PORT]');
    const user = flags.user ?? (flags.proxy === undefined ? previous?.user : undefined) ?? process.env.TELEPORT_USER ?? os.userInfo().username;
    const ttlMs = flags.ttl === undefined ? undefined : parseDuration(flags.ttl, '--ttl');
    // --insecure counts for this invocation only (an old profile's insecure: true is not inherited).
    const insecure = flags.insecure;
    if (insecure) process.stderr.write('WARNING: --insecure: the proxy\'s TLS certificate is not verified for this login; the key it presents is pinned in the profile\n');

    const { password, input, confirm } = await import('@inquirer/prompts');
    // Without a terminal tsh never prompts (DESIGN.md): it fails here, after the proxy was reached.
    const needTty = () => {
      if (!process.stdin.isTTY) throw badParameter('tsh login needs a terminal to ask for your password', 'run it in an interactive terminal');
    };
    const result = await login({
      proxy,
      user,
      ttlMs,
      insecure,
      ...(flags.fingerprint !== undefined ? { fingerprint: flags.fingerprint } : {}),
      // As ssh asks about an unknown host key: only at a terminal; without one the pin must be given.
      ...(process.stdin.isTTY
        ? {
            confirmTrust: (pin: string, reason: string) => {
              process.stderr.write(`The proxy's TLS certificate cannot be verified (${reason}).\nIts key's pin is ${pin}\nCompare it with the "Proxy TLS pin" line of tctl status on the proxy.\n`);
              return confirm({ message: 'Trust this proxy and pin its key?', default: false });
            },
          }
        : {}),
      addKeysToAgent: flags['add-keys-to-agent'] as AddKeysToAgent,
      profiles,
      agent: AgentClient.fromEnv(process.env),
      askPassword: (u) => (needTty(), password({ message: `Enter password for user ${u}:` })),
      askOtp: () => input({ message: 'Enter your OTP token:', validate: (v) => /^\d{6}$/.test(v.trim()) || 'enter the 6-digit code from your authenticator app' }),
    });
    const agentLine = result.agent.added
      ? `added (the agent drops it when the certificate expires)`
      : `not added: ${result.agent.reason}`;
    this.out(renderProfile(result.profile, new Date(), [['Extensions', result.extensions.join(', ')], ['ssh-agent', agentLine], ['Key', result.profile.key_file]]));
    if (!result.agent.added && flags['add-keys-to-agent'] === 'auto') {
      process.stderr.write(`WARNING: the key was not added to an ssh-agent (${result.agent.reason}); start one with: eval "$(ssh-agent)" and run tsh login again\n`);
    }
  }
}
