import ssh2 from 'ssh2';

/**
 * An ed25519 host key for an in-process ssh2 server. ssh2 1.17's own generateKeyPairSync writes
 * about 1 key in 200 that its parseKey then rejects ("Malformed OpenSSH private key"), which
 * made the in-process pipeline tests flaky; a key that does not parse is simply made again.
 */
export function testHostKey(): string {
  for (let i = 0; i < 20; i++) {
    const key = ssh2.utils.generateKeyPairSync('ed25519').private;
    if (!(ssh2.utils.parseKey(key) instanceof Error)) return key;
  }
  throw new Error('ssh2 could not make a host key that it can parse');
}
