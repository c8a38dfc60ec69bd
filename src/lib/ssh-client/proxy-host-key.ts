import type * as Ssh2 from 'ssh2';
import { parsePublicKeyLine } from '../ca/index.js';
import { badParameter } from '../errors.js';
import { hostCertVerifier, type HostCertVerifier } from '../ssh/index.js';
import type { Profile, ProfileStore } from '../profile/index.js';

/**
 * tsh checks the proxy's host key itself against the cluster's host CA from the profile: a host
 * certificate signed by that CA, valid now, naming the host tsh dialled.
 */
export function proxyHostKeyOptions(profiles: ProfileStore, profile: Profile): { options(hostname: string): Partial<Ssh2.ConnectConfig>; verifier(): HostCertVerifier | undefined } {
  const line = profiles.hostCaLine(profile.cluster);
  if (!line) throw badParameter(`no host CA for cluster ${profile.cluster} in ${profiles.knownHostsFile}`, 'log in again with tsh login');
  const caBlob = parsePublicKeyLine(line.split(/\s+/).slice(2).join(' ')).blob;
  let last: HostCertVerifier | undefined;
  return {
    options: (hostname) => {
      last = hostCertVerifier({ hostCaBlob: caBlob, hostname, peer: 'proxy' });
      return { algorithms: last.algorithms, hostVerifier: last.hostVerifier };
    },
    verifier: () => last,
  };
}
