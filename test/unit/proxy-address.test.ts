import { describe, expect, it } from 'vitest';
import { parseProxyAddress } from '../../src/lib/profile/proxy-address.js';

describe('tsh --proxy', () => {
  it('defaults to Teleport\'s web port 3080', () => {
    expect(parseProxyAddress('proxy.example.com')).toEqual({ host: 'proxy.example.com', port: 3080 });
    expect(parseProxyAddress('https://proxy.example.com/')).toEqual({ host: 'proxy.example.com', port: 3080 });
  });
  it('takes a port and IPv6 in brackets', () => {
    expect(parseProxyAddress('127.0.0.1:13080')).toEqual({ host: '127.0.0.1', port: 13080 });
    expect(parseProxyAddress('[::1]:443')).toEqual({ host: '::1', port: 443 });
  });
  it('refuses nonsense with a hint', () => {
    expect(() => parseProxyAddress('http://proxy')).toThrow(/only https/);
    expect(() => parseProxyAddress('proxy:99999')).toThrow(/port outside/);
  });
});
