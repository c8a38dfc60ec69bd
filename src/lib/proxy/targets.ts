import dns from 'node:dns/promises';
import net from 'node:net';
import { accessDenied, unavailable } from '../errors.js';

/** A parsed `proxy_service.allowed_targets` entry: a network (or any) and an optional port. */
interface TargetRule {
  net: net.BlockList | undefined;
  port: number | undefined;
}

function parseRule(text: string): TargetRule {
  const m = /^(?:\[([^\]]+)\]|([^:]+))(?::(\d+))?$/.exec(text) ?? /^([^[\]]*:[^[\]]*)$/.exec(text);
  const netText = m?.[1] ?? m?.[2] ?? text;
  const port = m?.[3] === undefined ? undefined : Number(m[3]);
  if (netText === '*') return { net: undefined, port };
  const [addr, prefix] = netText.split('/');
  const family = net.isIP(addr!) === 6 ? 'ipv6' : 'ipv4';
  const list = new net.BlockList();
  list.addSubnet(addr!, prefix === undefined ? (family === 'ipv6' ? 128 : 32) : Number(prefix), family);
  return { net: list, port };
}

/**
 * Decides which node addresses the proxy may dial (`allowed_targets`; empty = any), resolving
 * names first so the check and the dial use the same address.
 */
export class TargetPolicy {
  private rules: TargetRule[];

  constructor(allowed: readonly string[]) {
    this.rules = allowed.map(parseRule);
  }

  /** Replaces the rules (SIGHUP): sessions already relayed keep their node; new dials use these. */
  update(allowed: readonly string[]): void {
    this.rules = allowed.map(parseRule);
  }

  allows(ip: string, port: number): boolean {
    if (this.rules.length === 0) return true;
    const family = net.isIP(ip) === 6 ? 'ipv6' : 'ipv4';
    return this.rules.some((r) => (r.port === undefined || r.port === port) && (r.net === undefined || r.net.check(ip, family)));
  }

  /** Resolves `host` and returns the address to dial, or throws access-denied / unavailable. */
  async resolve(host: string, port: number): Promise<string> {
    let ip = host;
    if (!net.isIP(host)) {
      try {
        ip = (await dns.lookup(host)).address;
      } catch (err) {
        throw unavailable(`cannot resolve node "${host}"`, 'check the host name', err);
      }
    }
    if (!this.allows(ip, port)) throw accessDenied(`the proxy may not connect to ${host}:${port} (proxy_service.allowed_targets)`);
    return ip;
  }
}
