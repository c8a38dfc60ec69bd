import { describe, expect, it } from 'vitest';
import { renderSshConfig } from '../../src/lib/client/ssh-config.js';
import { matchesHostPatterns } from '../../src/lib/ssh-client/proxy-host-key.js';
import type { Profile } from '../../src/lib/profile/index.js';

/** Issue 16, acceptance 2 (the renderer): nothing from a profile can add a line to ssh_config. */
const profile: Profile = {
  name: 'proxy.example.test',
  web_proxy_addr: 'proxy.example.test:3080',
  ssh_proxy_addr: 'proxy.example.test:3023',
  user: 'joe',
  cluster: 'example.test',
  logins: ['joe'],
  valid_before: '2030-01-01T00:00:00.000Z',
  token: 't',
  key_file: '/home/joe/.tsh/keys/proxy.example.test/joe',
  cert_file: '/home/joe/.tsh/keys/proxy.example.test/joe-cert.pub',
  agent_socket: null,
};

describe('renderSshConfig', () => {
  it('writes one keyword per line; paths quoted with % doubled; the proxied known_hosts only in ProxyJump blocks', () => {
    const out = renderSshConfig({ ...profile, key_file: '/home/j%h/k' }, '/home/joe/.tsh/known_hosts', '*', ['db1'], '/home/joe/.tsh/proxied_known_hosts');
    expect(out).toContain('IdentityFile "/home/j%%h/k"');
    const blocks = out.split(/^Host /m).slice(1);
    expect(blocks[0]).toMatch(/^proxy\.example\.test\n/);
    expect(blocks[0]).not.toContain('proxied_known_hosts');
    for (const b of blocks.slice(1)) expect(b).toContain('UserKnownHostsFile "/home/joe/.tsh/known_hosts" "/home/joe/.tsh/proxied_known_hosts"');
    expect(out).not.toMatch(/ProxyCommand/);
  });

  it('refuses a value that could end a line or add a keyword', () => {
    const bad: Array<Partial<Profile>> = [
      { ssh_proxy_addr: 'x\n  ProxyCommand touch /tmp/pwned' },
      { ssh_proxy_addr: 'a b:3023' },
      { cluster: 'c\nProxyCommand x' },
      { user: 'joe ProxyCommand' },
      { key_file: '/k"\nProxyCommand x' },
      { cert_file: '/c\r' },
    ];
    for (const b of bad) expect(() => renderSshConfig({ ...profile, ...b }, '/kh'), JSON.stringify(b)).toThrow(/cannot go into an ssh config/);
    // --hosts is split into patterns and joined on one line: a newline in it adds no keyword.
    expect(renderSshConfig(profile, '/kh', '* \n ProxyCommand')).not.toMatch(/^\s*ProxyCommand/m);
    expect(() => renderSshConfig(profile, '/kh', 'a"b')).toThrow(/cannot go into an ssh config/);
    expect(() => renderSshConfig(profile, '/kh', '*', ['db1\nProxyCommand x'])).toThrow(/cannot go into an ssh config/);
  });
});

describe('known_hosts patterns (tsh checks the proxy as ssh reads the line)', () => {
  it('matches *.CLUSTER and exact names, not others; ! negates', () => {
    const p = '*.example.test,127.0.0.1,proxy';
    expect(matchesHostPatterns('node.example.test', p)).toBe(true);
    expect(matchesHostPatterns('127.0.0.1', p)).toBe(true);
    expect(matchesHostPatterns('PROXY', p)).toBe(true);
    expect(matchesHostPatterns('github.com', p)).toBe(false);
    expect(matchesHostPatterns('example.test', p)).toBe(false);
    expect(matchesHostPatterns('127.0.0.10', p)).toBe(false);
    expect(matchesHostPatterns('a.example.test', '*.example.test,!a.example.test')).toBe(false);
  });
});
