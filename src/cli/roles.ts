import type { Role } from '../lib/config/index.js';
import { badParameter } from '../lib/errors.js';

/** `--roles=auth,proxy` as Teleport spells it; `node` does not exist here (nodes are stock OpenSSH). */
export function parseDaemonRoles(text: string): Role[] {
  const roles = text.split(',').map((r) => r.trim()).filter(Boolean);
  if (roles.length === 0) throw badParameter('--roles is empty', 'use --roles=auth,proxy');
  for (const r of roles) {
    if (r === 'node') throw badParameter('tollgate has no node role: nodes are stock OpenSSH servers that trust the user CA', 'use --roles=auth,proxy');
    if (r !== 'auth' && r !== 'proxy') throw badParameter(`unknown role "${r}"`, 'roles are auth and proxy, e.g. --roles=auth,proxy');
  }
  return [...new Set(roles)] as Role[];
}
