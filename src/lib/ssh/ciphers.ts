import type * as Ssh2 from 'ssh2';

/**
 * The ciphers tollgate's ssh2 ends offer, most preferred first: the hops where tollgate is the
 * client (tsh → proxy, proxy → node) get the first one the server also has; where an OpenSSH
 * client connects, its own order wins (it prefers chacha20-poly1305). The set is ssh2's default
 * set, which is OpenSSH's default set: only the order is tollgate's.
 *
 * The order by the numbers (issue 19, `RUNS=5 node bench/ssh2-hop.mjs CIPHER...`: one ssh2 hop
 * on 127.0.0.1, 256 MiB, CPU seconds of sender + receiver per GiB, median of 5, this 2-core
 * machine, ssh2's OpenSSL binding): aes128-gcm 1.48, aes256-gcm 1.43, chacha20-poly1305 1.86,
 * aes128-ctr (+ hmac-sha2-256-etm) 2.41. The two GCMs tie (run in the other order: 1.61 and 1.74,
 * whichever runs second is cheaper), so 128-bit stays first as in OpenSSH's and ssh2's order;
 * chacha20 costs about a quarter more and CTR with its MAC two thirds more.
 */
export const SSH_CIPHERS: readonly Ssh2.CipherAlgorithm[] = Object.freeze([
  'aes128-gcm@openssh.com',
  'aes256-gcm@openssh.com',
  'chacha20-poly1305@openssh.com',
  'aes128-ctr',
  'aes192-ctr',
  'aes256-ctr',
]);

/** ssh2 `algorithms.cipher` for a Client or Server: SSH_CIPHERS in its order. */
export function cipherAlgorithms(): { cipher: Ssh2.CipherAlgorithm[] } {
  return { cipher: [...SSH_CIPHERS] };
}
