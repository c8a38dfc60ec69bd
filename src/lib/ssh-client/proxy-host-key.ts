import type * as Ssh2 from 'ssh2';
import { parsePublicKeyLine } from '../ca/index.js';
import { badParameter } from '../errors.js';
import { hostCertVerifier, type HostCertVerifier } from '../ssh/index.js';
import type { Profile, ProfileStore } from '../profile/index.js';

/** Whether `host` matches one of known_hosts' comma-separated patterns (`*`, `?` wildcards; `!` negates). */
export function matchesHostPatterns(host: string, patterns: string): boolean {
  let hit = false;
  for (const p of patterns.split(',')) {
    const neg = p.startsWith('!');
    const glob = neg ? p.slice(1) : p;
    const re = new RegExp(`^${glob.replace(/[.+^${}()|[\]\\]/g, '\\$&').replaceAll('*', '.*').replaceAll('?', '.')}$`, 'i');
    if (re.test(host)) {
      if (neg) return false;
      hit = true;
    }
  }
  return hit;
}

/**
 * tsh checks the proxy's host key itself against the cluster's host CA from the profile: a host
 * certificate signed by that CA, valid now, naming the host tsh dialled, and that host among the
 * names the profile trusts the CA for (`*.CLUSTER`, the proxy's names, the inventory's nodes), as
 * ssh would read the same known_hosts line. Targets behind the proxy are the proxy's to dial.
 */
export function proxyHostKeyOptions(profiles: ProfileStore, profile: Profile): { options(hostname: string): Partial<Ssh2.ConnectConfig>; verifier(): HostCertVerifier | undefined } {
  const line = profiles.hostCaLine(profile.cluster);
  if (!line) throw badParameter(`no host CA for cluster ${profile.cluster} in ${profiles.knownHostsFile}`, 'log in again with tsh login');
  const caBlob = parsePublicKeyLine(line.split(/\s+/).slice(2).join(' ')).blob;
  let last: HostCertVerifier | undefined;
  return {
    options: (hostname) => {
      const patterns = line.split(/\s+/)[1] ?? '';
      if (!matchesHostPatterns(hostname, patterns)) {
        throw badParameter(`the host CA of cluster ${profile.cluster} is not trusted for ${hostname} (only ${patterns})`, 'log in again with tsh login --proxy=HOST naming the proxy as you reach it');
      }
      last = hostCertVerifier({ hostCaBlob: caBlob, hostname, peer: 'proxy' });
      return { algorithms: last.algorithms, hostVerifier: last.hostVerifier };
    },
    verifier: () => last,
  };
}
