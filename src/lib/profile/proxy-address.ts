import { parseHostPort, type HostPort } from '../address.js';
import { badParameter } from '../errors.js';

/** Teleport's default web port: `tsh login --proxy=HOST` means HOST:3080. */
export const DEFAULT_WEB_PORT = 3080;

/** Parses `--proxy=HOST[:PORT]` (an `https://` prefix and a trailing slash are tolerated). */
export function parseProxyAddress(text: string): HostPort {
  const s = text.trim().replace(/^https:\/\//, '').replace(/\/+$/, '');
  if (/^[a-z]+:\/\//i.test(s)) throw badParameter(`--proxy ${text}: only https proxies exist`, 'write --proxy=HOST or --proxy=HOST:PORT');
  const r = parseHostPort(s, DEFAULT_WEB_PORT);
  if (typeof r === 'string') throw badParameter(`--proxy: ${r}`, 'write --proxy=HOST or --proxy=HOST:PORT');
  return r;
}
