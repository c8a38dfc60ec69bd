import path from 'node:path';
import { Flags } from '@oclif/core';
import { adminRoutes, CA_FORMATS, CA_TYPES } from '../../../lib/api/index.js';
import { AdminCommand } from '../../../cli/admin-command.js';
import { badParameter } from '../../../lib/errors.js';
import { writeFileAtomic } from '../../../lib/fs/index.js';

/** `krl` is not a CA: it is the revocation list for the user CA (binary). */
const TYPES = [...CA_TYPES, 'krl'] as const;
const FORMATS = CA_FORMATS;

export default class AuthExport extends AdminCommand {
  static override summary = 'Print a certificate authority public key for OpenSSH.';
  static override description = [
    '--type=user prints the user CA as one bare "ssh-ed25519 AAAA..." line: write it to the file named by sshd\'s TrustedUserCAKeys.',
    '--type=openssh prints the OpenSSH CA the same way: registered (agentless) nodes trust only it, and only the proxy ever holds a certificate from it (teleport join openssh installs it).',
    '--type=host prints a known_hosts line "@cert-authority *.CLUSTER ssh-ed25519 ..." for ssh clients that connect to nodes with tctl auth sign host certificates.',
    '--type=recording prints the recording signing key as an allowed_signers line for ssh-keygen -Y verify.',
    "--type=krl writes an OpenSSH KRL (binary) of locked users' certificates and of certificates issued before their user was created or reset, for sshd's RevokedKeys on nodes that trust the user CA directly: write it with --out (or redirect), and again after each lock, reset or tctl locks rm.",
  ].join('\n');
  static override examples = [
    '<%= config.bin %> auth export --type=user > /etc/ssh/teleport_user_ca.pub',
    '<%= config.bin %> auth export --type=openssh > /etc/ssh/tollgate_openssh_ca.pub',
    '<%= config.bin %> auth export --type=host >> ~/.ssh/known_hosts',
    '<%= config.bin %> auth export --type=host --host-pattern="*.example.com,10.0.0.*"',
    '<%= config.bin %> auth export --type=krl --out=/etc/ssh/tollgate_revoked.krl',
  ];
  static override flags = {
    type: Flags.string({ description: `CA type: ${TYPES.join(', ')}`, required: true }),
    format: Flags.string({ description: `output format: ${FORMATS.join(', ')} (default: openssh for user and openssh, known-hosts for host)` }),
    'host-pattern': Flags.string({ description: 'known_hosts host pattern for --format=known-hosts (default *.CLUSTER_NAME)' }),
    out: Flags.string({ description: 'write to this file instead of stdout (--type=krl)' }),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(AuthExport);
    if (!TYPES.includes(flags.type as (typeof TYPES)[number])) throw badParameter(`unknown CA type "${flags.type}"`, `valid types: ${TYPES.join(', ')}`);
    if (flags.type === 'krl') {
      const k = await this.adminClient(flags).call(adminRoutes.exportKrl);
      const bytes = Buffer.from(k.krl, 'base64');
      if (flags.out) {
        writeFileAtomic(path.resolve(flags.out), bytes, { mode: 0o644, overwrite: true });
        process.stderr.write(`wrote ${flags.out}: ${k.key_ids} locked user(s) by key id, ${k.serials} certificate(s) by serial${k.proxy_only ? `; ${k.proxy_only} node or session lock(s) apply at the proxy only` : ''}\n`);
      } else process.stdout.write(bytes);
      return;
    }
    if (flags.format && !FORMATS.includes(flags.format as (typeof FORMATS)[number])) throw badParameter(`unknown format "${flags.format}"`, `valid formats: ${FORMATS.join(', ')}`);
    const { line } = await this.adminClient(flags).call(adminRoutes.exportCa, {
      params: { type: flags.type as (typeof CA_TYPES)[number] },
      query: { format: flags.format as (typeof FORMATS)[number] | undefined, host_pattern: flags['host-pattern'] },
    });
    this.out(line);
  }
}
