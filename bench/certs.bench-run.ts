import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { it } from 'vitest';
import { CertAuthority } from '../src/lib/ca/cert-authority.js';
import { parseCertificate } from '../src/lib/ca/certificate.js';
import { ed25519Blob } from '../src/lib/ca/keys.js';
import { ROOT } from '../test/helpers/proc.js';

/*
 * User certificates signed per second by the project's CA, in process, side by side with the
 * ceiling: bare node:crypto ed25519 signatures over a message as long as a certificate's signed
 * part. Writes bench/results/certs-<date>.json.
 */
const KEYS = 4096;
const ROUND_MS = 1_000;
const ROUNDS = 2;
const line = (label: string, text: string) => console.log(`${label.padEnd(44)} ${text}`);

/** Calls `fn` in batches until `ms` have passed; returns [calls, seconds]. */
function spin(fn: (i: number) => void, ms: number): [number, number] {
  const t0 = performance.now();
  let n = 0;
  while (performance.now() - t0 < ms) for (let end = n + 64; n < end; n++) fn(n);
  return [n, (performance.now() - t0) / 1000];
}

it('user certificates signed per second', () => {
  const ca = CertAuthority.generate('user');
  // Fresh subject keys, made before the clock starts; the loop cycles through them.
  const keys = Array.from({ length: KEYS }, () => ed25519Blob(crypto.generateKeyPairSync('ed25519', { publicKeyEncoding: { type: 'spki', format: 'der' }, privateKeyEncoding: { type: 'pkcs8', format: 'der' } }).publicKey.subarray(-32)));
  const now = new Date();
  const issue = (i: number) => ca.issueUserCert({ publicKey: keys[i % KEYS]!, user: 'joe', logins: ['joe', 'root'], ttlMs: 12 * 3600_000 }, now);
  const signedBytes = parseCertificate(issue(0).blob).signedData.length;
  const raw = crypto.generateKeyPairSync('ed25519').privateKey;
  const message = crypto.randomBytes(signedBytes);
  const sign = () => crypto.sign(null, message, raw);

  // Warm both up, then alternate so machine noise falls on both alike.
  spin(issue, 200);
  spin(sign, 200);
  let certs = [0, 0];
  let sigs = [0, 0];
  for (let r = 0; r < ROUNDS; r++) {
    const [cn, cs] = spin(issue, ROUND_MS);
    const [sn, ss] = spin(sign, ROUND_MS);
    certs = [certs[0]! + cn, certs[1]! + cs];
    sigs = [sigs[0]! + sn, sigs[1]! + ss];
  }
  const certRate = certs[0]! / certs[1]!;
  const signRate = sigs[0]! / sigs[1]!;
  line('user certificates signed per second', `${certRate.toFixed(0)}/s  ${(certRate / signRate).toFixed(2)} of the node:crypto ceiling`);
  line(`node:crypto ed25519 sign, ${signedBytes}-byte message`, `${signRate.toFixed(0)}/s`);

  fs.mkdirSync(path.join(ROOT, 'bench/results'), { recursive: true });
  const file = path.join(ROOT, 'bench/results', `certs-${new Date().toISOString().slice(0, 10)}.json`);
  const results = {
    machine: `${process.platform} ${process.arch} node ${process.version}`,
    date: new Date().toISOString(),
    user_certs_per_second: certRate,
    ed25519_signs_per_second: signRate,
    ratio_of_ceiling: certRate / signRate,
    signed_bytes: signedBytes,
    seconds: certs[1],
  };
  fs.writeFileSync(file, `${JSON.stringify(results, null, 2)}\n`);
  console.log(`results written to ${path.relative(ROOT, file)}`);
});
