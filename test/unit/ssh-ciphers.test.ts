import { execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { expect, it } from 'vitest';
import { SSH_CIPHERS } from '../../src/lib/ssh/index.js';

const require = createRequire(import.meta.url);

it('offers exactly the ciphers OpenSSH offers by default, AEAD ones first, all usable by ssh2', () => {
  // OpenSSH's default cipher list (`ssh -G` prints the client's effective configuration).
  const openssh = /^ciphers (.+)$/m.exec(execFileSync('ssh', ['-G', '-F', '/dev/null', 'example.test'], { encoding: 'utf8' }))![1]!.split(',');
  expect([...SSH_CIPHERS].sort()).toEqual([...openssh].sort());
  const { DEFAULT_CIPHER } = require('ssh2/lib/protocol/constants.js') as { DEFAULT_CIPHER: string[] };
  for (const c of SSH_CIPHERS) expect(DEFAULT_CIPHER).toContain(c);
  expect(SSH_CIPHERS.slice(0, 3)).toEqual(['aes128-gcm@openssh.com', 'aes256-gcm@openssh.com', 'chacha20-poly1305@openssh.com']);
});
