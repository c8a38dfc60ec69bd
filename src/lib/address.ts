import net from 'node:net';

/** A `host:port` listen or dial address, as Teleport writes them (`0.0.0.0:3023`, `[::1]:3080`). */
export interface HostPort {
  host: string;
  port: number;
}

const HOSTNAME = /^(?=.{1,253}$)[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,62})?(?:\.[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,62})?)*\.?$/;

export function isValidHost(host: string): boolean {
  return net.isIP(host) !== 0 || HOSTNAME.test(host);
}

/**
 * Parses `host:port`, `[v6]:port`, or `host` alone when `defaultPort` is given.
 * Returns an error message (not a throw) so the config loader can attach file and line.
 */
export function parseHostPort(text: string, defaultPort?: number): HostPort | string {
  const s = text.trim();
  let host: string;
  let portText: string | undefined;
  const v6 = /^\[([^\]]+)\](?::(\d*))?$/.exec(s);
  if (v6) {
    host = v6[1]!;
    portText = v6[2];
    if (net.isIPv6(host) === false) return `"${text}" is not a valid IPv6 address`;
  } else {
    const i = s.lastIndexOf(':');
    if (i >= 0 && s.indexOf(':') !== i) return `"${text}": write IPv6 addresses in brackets, e.g. [::1]:3023`;
    host = i >= 0 ? s.slice(0, i) : s;
    portText = i >= 0 ? s.slice(i + 1) : undefined;
  }
  if (!host || !isValidHost(host)) return `"${text}" is not a valid address (expected host:port)`;
  if (portText === undefined || portText === '') {
    if (defaultPort === undefined) return `"${text}" has no port (expected host:port)`;
    return { host, port: defaultPort };
  }
  if (!/^\d+$/.test(portText)) return `"${text}" has an invalid port`;
  const port = Number(portText);
  if (port < 1 || port > 65535) return `"${text}" has a port outside 1-65535`;
  return { host, port };
}

/** Formats an address so that it parses back (brackets around IPv6). */
export function formatHostPort({ host, port }: HostPort): string {
  return `${net.isIPv6(host) ? `[${host}]` : host}:${port}`;
}

export function isWildcardHost(host: string): boolean {
  return host === '0.0.0.0' || host === '::' || host === '';
}

/** Validates `CIDR` (or a bare IP, taken as a single host). Returns an error message or undefined. */
export function checkCidr(text: string): string | undefined {
  const [addr, prefix, ...rest] = text.split('/');
  const family = net.isIP(addr ?? '');
  if (!family || rest.length) return `"${text}" is not a CIDR such as 10.0.0.0/8 or 192.0.2.7/32`;
  if (prefix === undefined) return undefined;
  const max = family === 4 ? 32 : 128;
  if (!/^\d+$/.test(prefix) || Number(prefix) > max) return `"${text}" has a prefix length outside 0-${max}`;
  return undefined;
}

/** The source a connection is counted under: an IPv4 address (mapped or not), or an IPv6 /64. */
export function sourceKey(addr: string): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(addr);
  if (mapped) return mapped[1]!;
  const bare = addr.replace(/%.*$/, '');
  if (net.isIPv6(bare)) return `${ipv6Groups(bare).slice(0, 4).join(':')}::/64`;
  return addr;
}

/** The eight 16-bit groups of an IPv6 address, in lower-case hex without leading zeros. */
function ipv6Groups(addr: string): string[] {
  const split = (s: string) => (s ? s.split(':') : []).flatMap((g) => (g.includes('.') ? ['0', '0'] : [g]));
  const [head, tail] = addr.split('::') as [string, string | undefined];
  const h = split(head);
  const t = tail === undefined ? [] : split(tail);
  const groups = [...h, ...Array<string>(Math.max(0, 8 - h.length - t.length)).fill('0'), ...t];
  return groups.map((g) => parseInt(g, 16).toString(16));
}
