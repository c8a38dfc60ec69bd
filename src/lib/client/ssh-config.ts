import type { Profile } from '../profile/index.js';

const q = (s: string) => `"${s.replaceAll('"', '\\"')}"`;

/**
 * An OpenSSH client config block so plain `ssh NODE` goes through the proxy with the tollgate
 * certificate: ProxyJump to the proxy, agent forwarding (the proxy borrows the agent), host CA
 * trust from the profile's known_hosts.
 */
export function renderSshConfig(p: Profile, knownHosts: string, hosts = '*'): string {
  const proxyHost = p.ssh_proxy_addr.replace(/:\d+$/, '').replace(/^\[(.*)\]$/, '$1');
  const common = [`    UserKnownHostsFile ${q(knownHosts)}`, `    IdentityFile ${q(p.key_file)}`, `    CertificateFile ${q(p.cert_file)}`, '    IdentitiesOnly yes'];
  return [
    `# tollgate cluster ${p.cluster}: proxy ${p.ssh_proxy_addr}, user ${p.user} (from tsh config)`,
    `Host ${proxyHost}`,
    ...common,
    `Host ${hosts} !${proxyHost}`,
    `    ProxyJump ${p.user}@${p.ssh_proxy_addr}`,
    '    # The proxy signs into the node with the certificate in your ssh-agent (tsh login puts it there).',
    '    ForwardAgent yes',
    ...common,
    '',
  ].join('\n');
}
