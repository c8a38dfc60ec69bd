import os from 'node:os';
import { Flags } from '@oclif/core';
import { BaseCommand } from '../../../cli/base-command.js';
import { formatHostPort, parseHostPort } from '../../../lib/address.js';
import { webApiRoutes } from '../../../lib/api/index.js';
import { WebClient } from '../../../lib/client/index.js';
import { badParameter } from '../../../lib/errors.js';
import { parseLabels } from '../../../lib/labels.js';
import { DEFAULT_DATA_DIR, DEFAULT_SSHD_CONFIG, joinOpenSshNode } from '../../../lib/openssh-node/index.js';
import { isTlsPin } from '../../../lib/tls-pin.js';

const WEB_PORT = 3080;

function yesNo(text: string, flag: string): boolean {
  if (/^(yes|true|on|y)$/i.test(text)) return true;
  if (/^(no|false|off|n)$/i.test(text)) return false;
  throw badParameter(`${flag} must be yes or no, not "${text}"`);
}

export default class JoinOpenssh extends BaseCommand {
  static override summary = 'Enrol this OpenSSH node: trust the OpenSSH CA, get a host certificate, and register with the cluster.';
  static override description = [
    'Run on the node, as root, with a token from `tctl tokens add --type=node`. It checks the proxy against --ca-pin before it sends the token,',
    'writes the OpenSSH CA, a host key and its certificate under --data-dir, adds TrustedUserCAKeys, HostKey and HostCertificate to sshd',
    '(a drop-in when sshd_config includes sshd_config.d, else one marked block), checks the result with `sshd -t`, reloads sshd and registers',
    'the node. Running it again changes nothing.',
  ].join('\n');
  static override examples = [
    '<%= config.bin %> join openssh --proxy-server=tollgate.example.com:3080 --token=TOKEN --ca-pin=sha256:... --address=10.0.0.5:22 --labels=env=staging',
  ];
  static override flags = {
    address: Flags.string({ description: 'HOST[:PORT] where the proxy reaches this node\'s sshd', required: true }),
    'proxy-server': Flags.string({ description: 'the proxy\'s web address, HOST[:PORT] (port 3080 by default)', required: true }),
    token: Flags.string({ description: 'the join token (tctl tokens add --type=node); not needed to re-run a join that is in place' }),
    'ca-pin': Flags.string({ description: 'sha256:HEX pin of the proxy\'s TLS key, as tctl tokens add prints it (needed with --token)' }),
    labels: Flags.string({ description: 'node labels: k=v,k=v' }),
    'node-name': Flags.string({ description: 'the node\'s name in the inventory (default: this host\'s short name)' }),
    'openssh-config': Flags.string({ description: 'sshd config file', default: DEFAULT_SSHD_CONFIG }),
    'restart-sshd': Flags.string({ description: 'reload sshd after a change (yes|no)', default: 'yes' }),
    'sshd-restart-command': Flags.string({ description: 'command that reloads sshd (default: systemctl reload ssh, else SIGHUP)' }),
    'data-dir': Flags.string({ description: 'where the CA, host key and certificate are written', default: DEFAULT_DATA_DIR }),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(JoinOpenssh);
    const proxy = parseHostPort(flags['proxy-server'], WEB_PORT);
    if (typeof proxy === 'string') throw badParameter(`invalid --proxy-server: ${proxy}`, 'e.g. --proxy-server=tollgate.example.com:3080');
    const address = parseHostPort(flags.address, 22);
    if (typeof address === 'string') throw badParameter(`invalid --address: ${address}`, 'e.g. --address=10.0.0.5:22');
    const pin = flags['ca-pin'];
    if (pin !== undefined && !isTlsPin(pin)) throw badParameter(`invalid --ca-pin "${pin}"`, 'copy it from the output of tctl tokens add: sha256: and 64 hex digits');
    if (flags.token && pin === undefined) throw badParameter('--token needs --ca-pin', 'tctl tokens add prints both: the node checks the proxy against the pin before it sends the token');
    const labels = parseLabels(flags.labels ?? '');
    const host = os.hostname();
    const nodeName = flags['node-name'] ?? host.split('.')[0]!;
    const client = pin ? new WebClient(proxy, false, undefined, pin) : undefined;
    const report = await joinOpenSshNode(
      {
        token: flags.token ?? '',
        dataDir: flags['data-dir'],
        sshdConfig: flags['openssh-config'],
        nodeName,
        address: formatHostPort(address),
        labels,
        proxy: flags['proxy-server'],
        restartSshd: yesNo(flags['restart-sshd'], '--restart-sshd'),
        restartCommand: flags['sshd-restart-command'] ? ['/bin/sh', '-c', flags['sshd-restart-command']] : undefined,
        hostnames: [...new Set([host, nodeName])],
      },
      async (req) => {
        if (!client) throw badParameter('a join token is needed', 'pass --token and --ca-pin from tctl tokens add --type=node');
        const r = await client.call(webApiRoutes.joinNode, {
          body: { token: req.token, node_name: req.nodeName, address: req.address, labels: req.labels, host_public_key: req.hostPublicKey, hostnames: req.hostnames },
        });
        return { clusterName: r.cluster_name, openSshCa: r.openssh_ca, hostCertificate: r.host_certificate };
      },
    );
    for (const step of report.steps) this.out(step);
    if (report.changed) this.out(`joined the cluster as ${nodeName}; sessions to it now use per-session certificates (tsh ls)`);
  }
}
