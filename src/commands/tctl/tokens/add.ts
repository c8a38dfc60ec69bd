import { Flags } from '@oclif/core';
import { AdminCommand } from '../../../cli/admin-command.js';
import { formatFlag } from '../../../cli/base-command.js';
import { adminRoutes } from '../../../lib/api/index.js';
import { formatDuration, parseDuration } from '../../../lib/duration.js';

export default class TokensAdd extends AdminCommand {
  static override summary = 'Create a single-use token that lets an OpenSSH node join (teleport join openssh).';
  static override examples = ['<%= config.bin %> tokens add --type=node --ttl=30m'];
  static override flags = {
    type: Flags.string({ description: 'token type', options: ['node'], required: true }),
    ttl: Flags.string({ description: 'how long the token is valid (max 24h)', default: '30m' }),
    format: formatFlag,
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(TokensAdd);
    const t = await this.adminClient(flags).call(adminRoutes.addToken, { body: { type: 'node', ttl_ms: parseDuration(flags.ttl, '--ttl') } });
    if (flags.format === 'json') return this.out(JSON.stringify({ id: t.token, ...t }, null, 2));
    this.out(
      [
        `The join token: ${t.token}`,
        `It is valid for ${formatDuration(t.ttl_ms)} (until ${t.expires_at}) and can be used once.`,
        '',
        'Run this on the OpenSSH node, as root (add --labels=k=v,... as needed):',
        '',
        `  teleport join openssh --proxy-server=${t.proxy} --token=${t.token} --ca-pin=${t.ca_pin} --address=NODE_HOST:22`,
        '',
        'The node checks the proxy against the pin before it sends the token.',
      ].join('\n'),
    );
  }
}
