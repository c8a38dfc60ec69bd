import { Args, Flags } from '@oclif/core';
import { AdminCommand } from '../../../cli/admin-command.js';
import { formatFlag } from '../../../cli/base-command.js';
import { adminRoutes } from '../../../lib/api/index.js';
import { formatLabels } from '../../../lib/labels.js';

export default class NodesAdd extends AdminCommand {
  static override summary = 'Register an OpenSSH node by hand (teleport join openssh does it from the node).';
  static override description =
    'The node must trust the OpenSSH CA (tctl auth export --type=openssh > /etc/ssh/tollgate_openssh_ca.pub; TrustedUserCAKeys) and, with proxy_checks_host_keys, present a host certificate naming NAME (tctl auth sign --host=NAME).';
  static override examples = ['<%= config.bin %> nodes add node1 --addr=10.0.0.5:22 --labels=env=staging,team=db'];
  static override args = { name: Args.string({ description: 'node name (what tsh ssh LOGIN@NAME uses)', required: true }) };
  static override flags = {
    addr: Flags.string({ description: 'HOST[:PORT] the proxy dials (port 22 by default)', required: true }),
    labels: Flags.string({ description: 'labels: k=v,k=v' }),
    format: formatFlag,
  };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(NodesAdd);
    const n = await this.adminClient(flags).call(adminRoutes.addNode, { body: { name: args.name, addr: flags.addr, labels: flags.labels } });
    this.out(flags.format === 'json' ? JSON.stringify({ id: n.name, ...n }, null, 2) : `node ${n.name} registered at ${n.addr}${Object.keys(n.labels).length ? ` with labels ${formatLabels(n.labels)}` : ''}`);
  }
}
