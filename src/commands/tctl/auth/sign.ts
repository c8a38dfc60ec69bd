import path from 'node:path';
import { Flags } from '@oclif/core';
import { adminRoutes } from '../../../lib/api/index.js';
import { generateEd25519, privateKeyToOpenSSH, publicKeyLine } from '../../../lib/ca/index.js';
import { AdminCommand } from '../../../cli/admin-command.js';
import { writeFilesAtomically } from '../../../cli/write-credentials.js';
import { parseDuration } from '../../../lib/duration.js';
import { badParameter } from '../../../lib/errors.js';

export default class AuthSign extends AdminCommand {
  static override summary = 'Create a key pair and a certificate for an OpenSSH node (--host) or for automation (--user).';
  static override description =
    'Writes PATH (private key, 0600), PATH.pub and PATH-cert.pub. The key is generated here; only its public half goes to the auth service.';
  static override examples = [
    '<%= config.bin %> auth sign --host=node1.example.com,10.0.0.5 --format=openssh -o /etc/ssh/tollgate_host',
    '<%= config.bin %> auth sign --user=ci-bot --format=openssh -o ./ci-bot --ttl=1h',
  ];
  static override flags = {
    host: Flags.string({ description: 'comma-separated host names and addresses for a host certificate', exclusive: ['user'] }),
    user: Flags.string({ description: 'user name for a user certificate (principals = the user\'s logins)', exclusive: ['host'] }),
    format: Flags.string({ description: 'output format', options: ['openssh'], default: 'openssh' }),
    out: Flags.string({ char: 'o', description: 'path of the private key; the certificate goes to PATH-cert.pub', required: true }),
    ttl: Flags.string({ description: 'certificate lifetime (default 12h for users, 720h for hosts)' }),
    overwrite: Flags.boolean({ description: 'replace existing files', default: false }),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(AuthSign);
    if (!flags.host && !flags.user) throw badParameter('say what to sign', 'use --host=NAME[,NAME] for a node or --user=USER for a user');
    const ttlMs = flags.ttl === undefined ? undefined : parseDuration(flags.ttl, '--ttl');
    const out = path.resolve(flags.out);
    const client = this.adminClient(flags);
    const key = generateEd25519();
    const pub = publicKeyLine(key.publicBlob);
    const cert = flags.host
      ? await client.call(adminRoutes.signHostCert, { body: { hosts: flags.host, public_key: pub, ttl_ms: ttlMs } })
      : await client.call(adminRoutes.signUserCert, { body: { user: flags.user!, public_key: pub, ttl_ms: ttlMs } });
    writeFilesAtomically(
      [
        { path: out, data: await privateKeyToOpenSSH(key.privateKey, cert.key_id), mode: 0o600 },
        { path: `${out}.pub`, data: `${publicKeyLine(key.publicBlob, cert.key_id)}\n`, mode: 0o644 },
        { path: `${out}-cert.pub`, data: `${cert.certificate}\n`, mode: 0o644 },
      ],
      flags.overwrite,
    );
    const lines = [`The credentials have been written to ${out}, ${out}-cert.pub`, `Principals: ${cert.principals.join(',')}; valid until ${cert.valid_before}`];
    if (flags.host) lines.push('', 'In the node\'s sshd_config:', `  HostKey ${out}`, `  HostCertificate ${out}-cert.pub`);
    else lines.push('', `Use it with: ssh -i ${out} -o CertificateFile=${out}-cert.pub LOGIN@NODE`);
    this.out(lines.join('\n'));
  }
}
