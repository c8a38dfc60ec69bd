import { Flags } from '@oclif/core';
import { AdminCommand } from '../../cli/admin-command.js';
import { formatFlag } from '../../cli/base-command.js';
import { adminRoutes } from '../../lib/api/index.js';
import { parseDuration } from '../../lib/duration.js';
import { badParameter } from '../../lib/errors.js';

const KINDS = ['user', 'login', 'node', 'session'] as const;

export default class Lock extends AdminCommand {
  static override summary = 'Lock a user, login, node or session: new sessions are refused and running ones end within 2 seconds.';
  static override description = [
    'Exactly one of --user, --login, --node or --session. Every proxy checks locks at the start of each session and ends matching running sessions, showing the message to the client. The lock stays until --ttl runs out or tctl locks rm.',
    'Nodes that trust the user CA directly (legacy) enforce user and login locks only through a KRL: tctl auth export --type=krl.',
  ].join('\n');
  static override examples = [
    '<%= config.bin %> lock --user=joe --message="suspected compromise, call security" --ttl=12h',
    '<%= config.bin %> lock --node=db1 --message="maintenance"',
    '<%= config.bin %> lock --session=5c0a...',
  ];
  static override flags = {
    user: Flags.string({ description: 'a tollgate user' }),
    login: Flags.string({ description: 'an OS login on the nodes' }),
    node: Flags.string({ description: 'a registered node name, or a legacy node host' }),
    session: Flags.string({ description: 'a running session id (tctl sessions ls --active)' }),
    message: Flags.string({ char: 'm', description: 'shown to clients whose sessions the lock refuses or ends' }),
    ttl: Flags.string({ description: 'how long the lock lasts (default: until tctl locks rm)' }),
    format: formatFlag,
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(Lock);
    const given = KINDS.filter((k) => flags[k] !== undefined);
    if (given.length !== 1) throw badParameter('name exactly one thing to lock', 'use one of --user, --login, --node or --session');
    const kind = given[0]!;
    const lock = await this.adminClient(flags).call(adminRoutes.addLock, {
      body: { kind, target: flags[kind]!, message: flags.message, ttl_ms: flags.ttl === undefined ? undefined : parseDuration(flags.ttl, '--ttl') },
    });
    this.out(flags.format === 'json' ? JSON.stringify(lock, null, 2) : `created lock ${lock.id} on ${lock.kind} ${lock.target}${lock.expires_at ? ` until ${lock.expires_at}` : ''}`);
  }
}
