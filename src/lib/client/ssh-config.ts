import type { Profile } from '../profile/index.js';

const q = (s: string) => `"${s.replaceAll('"', '\\"')}"`;

/**
 * An OpenSSH client config block so plain `ssh NODE` goes through the proxy with the tollgate
 * certificate: ProxyJump to the proxy, host CA trust from the profile's known_hosts. Registered
 * nodes (`registered`, names checked by the inventory) come first and without agent forwarding:
 * the proxy logs in to them with a certificate of its own. Other hosts keep agent forwarding
 * (the proxy borrows the agent for them); ssh takes the first value it finds, so the order matters.
 */
export function renderSshConfig(p: Profile, knownHosts: string, hosts = '*', registered: readonly string[] = []): string {
  const proxyHost = p.ssh_proxy_addr.replace(/:\d+$/, '').replace(/^\[(.*)\]$/, '$1');
  const common = [`    UserKnownHostsFile ${q(knownHosts)}`, `    IdentityFile ${q(p.key_file)}`, `    CertificateFile ${q(p.cert_file)}`, '    IdentitiesOnly yes'];
  return [
    `# tollgate cluster ${p.cluster}: proxy ${p.ssh_proxy_addr}, user ${p.user} (from tsh config)`,
    `Host ${proxyHost}`,
    ...common,
    ...(registered.length
      ? [
          `Host ${registered.join(' ')} !${proxyHost}`,
          `    ProxyJump ${p.user}@${p.ssh_proxy_addr}`,
          '    # Registered nodes: the proxy logs in with a per-session certificate; your agent stays with you.',
          '    ForwardAgent no',
          ...common,
        ]
      : []),
    `Host ${hosts} !${proxyHost}`,
    `    ProxyJump ${p.user}@${p.ssh_proxy_addr}`,
    '    # The proxy signs into the node with the certificate in your ssh-agent (tsh login puts it there).',
    '    ForwardAgent yes',
    ...common,
    '',
  ].join('\n');
}
