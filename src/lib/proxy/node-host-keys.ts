import type { AuthService } from '../auth/index.js';
import type { Clock } from '../clock.js';
import type { Logger } from '../log.js';
import { hostCertVerifier } from '../ssh/index.js';
import type { HostKeyCheck } from './upstream.js';

/**
 * proxy_checks_host_keys: with `yes` a node must present a host certificate from the cluster's
 * host CA that names the dialled host; with `no` a plain host key is accepted with a warning
 * (a certificate, when presented, is still checked).
 */
export function nodeHostKeyCheck(auth: AuthService, clock: Clock, log: Logger, strict: boolean): (hostname: string) => HostKeyCheck {
  return (hostname) => {
    const v = hostCertVerifier({
      hostCaBlob: auth.ca('host').publicBlob,
      hostname,
      now: () => clock.now(),
      peer: 'node',
      allowPlainKey: strict
        ? false
        : () => {
            log.warn('accepting the node\'s plain host key without verification (proxy_checks_host_keys: no)', { component: 'proxy', node: hostname });
            return true;
          },
    });
    return {
      connectOptions: { algorithms: v.algorithms, hostVerifier: v.hostVerifier },
      refusal: () => {
        const e = v.lastError();
        return e && (strict && /no host certificate/.test(e) ? `${e}; give it one with tctl auth sign --host=${hostname}, or set proxy_checks_host_keys: no` : e);
      },
    };
  };
}
