import { isValidHost, parseHostPort } from '../address.js';
import { badParameter } from '../errors.js';
import type { Profile } from '../profile/index.js';

/*
 * Everything written here comes from the profile, and most of the profile came from the proxy: a
 * value that could end a line or start a new keyword (a newline, a quote, a `%` token) would let a
 * fake proxy add `ProxyCommand` to the user's ssh config. So each value is checked against the
 * syntax its keyword takes, and refused rather than repaired; paths are quoted with `%` doubled.
 */
const CONTROL = /[\u0000-\u001f\u007f]/;

function refuse(what: string, value: string): never {
  throw badParameter(`the profile's ${what} ${JSON.stringify(value)} cannot go into an ssh config`, 'log in again with tsh login; if it persists, the proxy sent it: is it really your tollgate proxy?');
}

/** A path as ssh_config reads one: in double quotes, `%` escaped (IdentityFile expands %-tokens). */
function quotePath(what: string, p: string): string {
  if (CONTROL.test(p) || p.includes('"') || p.includes('\\')) refuse(what, p);
  return `"${p.replaceAll('%', '%%')}"`;
}

/** One Host pattern (optionally negated): host-name characters and the wildcards `*` and `?`. */
function hostPattern(what: string, p: string): string {
  if (!/^!?[A-Za-z0-9_.*?:[\]-]{1,253}$/.test(p)) refuse(what, p);
  return p;
}

/**
 * An OpenSSH client config block so plain `ssh NODE` goes through the proxy with the tollgate
 * certificate: ProxyJump to the proxy, host CA trust from the profile's known_hosts. Registered
 * nodes (`registered`, names checked by the inventory) come first and without agent forwarding:
 * the proxy logs in to them with a certificate of its own. Other hosts keep agent forwarding
 * (the proxy borrows the agent for them); ssh takes the first value it finds, so the order matters.
 * The proxy's own block checks it against the scoped known_hosts; the blocks that go through the
 * proxy also read `proxiedKnownHosts` (the host CA for any name: the proxy dialled it).
 */
export function renderSshConfig(p: Profile, knownHosts: string, hosts = '*', registered: readonly string[] = [], proxiedKnownHosts?: string): string {
  const ssh = parseHostPort(p.ssh_proxy_addr);
  if (typeof ssh === 'string' || CONTROL.test(p.ssh_proxy_addr)) refuse('SSH proxy address', p.ssh_proxy_addr);
  const proxyHost = hostPattern('SSH proxy host', ssh.host);
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,252}$/.test(p.cluster)) refuse('cluster name', p.cluster);
  if (!/^[A-Za-z0-9_][A-Za-z0-9._@-]{0,127}$/.test(p.user)) refuse('user name', p.user);
  const patterns = hosts.trim().split(/\s+/).map((h) => hostPattern('--hosts pattern', h));
  const nodes = registered.map((n) => (isValidHost(n) ? hostPattern('node name', n) : refuse('node name', n)));
  const jump = `    ProxyJump ${p.user}@${p.ssh_proxy_addr}`;
  const identity = [`    IdentityFile ${quotePath('key file', p.key_file)}`, `    CertificateFile ${quotePath('certificate file', p.cert_file)}`, '    IdentitiesOnly yes'];
  const direct = [`    UserKnownHostsFile ${quotePath('known_hosts file', knownHosts)}`, ...identity];
  const proxied = [`    UserKnownHostsFile ${quotePath('known_hosts file', knownHosts)}${proxiedKnownHosts ? ` ${quotePath('known_hosts file', proxiedKnownHosts)}` : ''}`, ...identity];
  return [
    `# tollgate cluster ${p.cluster}: proxy ${p.ssh_proxy_addr}, user ${p.user} (from tsh config)`,
    `Host ${proxyHost}`,
    ...direct,
    ...(nodes.length
      ? [
          `Host ${nodes.join(' ')} !${proxyHost}`,
          jump,
          '    # Registered nodes: the proxy logs in with a per-session certificate; your agent stays with you.',
          '    ForwardAgent no',
          ...proxied,
        ]
      : []),
    `Host ${patterns.join(' ')} !${proxyHost}`,
    jump,
    '    # The proxy signs into the node with the certificate in your ssh-agent (tsh login puts it there).',
    '    ForwardAgent yes',
    ...proxied,
    '',
  ].join('\n');
}
