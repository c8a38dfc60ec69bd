import { Flags } from '@oclif/core';
import { adminRoutes, CA_FORMATS, CA_TYPES } from '../../../lib/api/index.js';
import { AdminCommand } from '../../../cli/admin-command.js';
import { badParameter } from '../../../lib/errors.js';

const TYPES = CA_TYPES;
const FORMATS = CA_FORMATS;

export default class AuthExport extends AdminCommand {
  static override summary = 'Print a certificate authority public key for OpenSSH.';
  static override description = [
    '--type=user prints the user CA as one bare "ssh-ed25519 AAAA..." line: write it to the file named by sshd\'s TrustedUserCAKeys.',
    '--type=openssh prints the OpenSSH CA the same way: registered (agentless) nodes trust only it, and only the proxy ever holds a certificate from it (teleport join openssh installs it).',
    '--type=host prints a known_hosts line "@cert-authority *.CLUSTER ssh-ed25519 ..." for ssh clients that connect to nodes with tctl auth sign host certificates.',
    '--type=recording prints the recording signing key as an allowed_signers line for ssh-keygen -Y verify.',
  ].join('\n');
  static override examples = [
    '<%= config.bin %> auth export --type=user > /etc/ssh/teleport_user_ca.pub',
    '<%= config.bin %> auth export --type=openssh > /etc/ssh/tollgate_openssh_ca.pub',
    '<%= config.bin %> auth export --type=host >> ~/.ssh/known_hosts',
    '<%= config.bin %> auth export --type=host --host-pattern="*.example.com,10.0.0.*"',
  ];
  static override flags = {
    type: Flags.string({ description: `CA type: ${TYPES.join(', ')}`, required: true }),
    format: Flags.string({ description: `output format: ${FORMATS.join(', ')} (default: openssh for user and openssh, known-hosts for host)` }),
    'host-pattern': Flags.string({ description: 'known_hosts host pattern for --format=known-hosts (default *.CLUSTER_NAME)' }),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(AuthExport);
    if (!TYPES.includes(flags.type as (typeof TYPES)[number])) throw badParameter(`unknown CA type "${flags.type}"`, `valid types: ${TYPES.join(', ')}`);
    if (flags.format && !FORMATS.includes(flags.format as (typeof FORMATS)[number])) throw badParameter(`unknown format "${flags.format}"`, `valid formats: ${FORMATS.join(', ')}`);
    const { line } = await this.adminClient(flags).call(adminRoutes.exportCa, {
      params: { type: flags.type as (typeof TYPES)[number] },
      query: { format: flags.format as (typeof FORMATS)[number] | undefined, host_pattern: flags['host-pattern'] },
    });
    this.out(line);
  }
}
