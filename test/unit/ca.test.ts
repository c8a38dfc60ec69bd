import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  CertAuthority,
  checkCertificate,
  generateEd25519,
  parseCertificate,
  parsePublicKeyLine,
  publicKeyLine,
  USER_CERT_EXTENSIONS,
} from '../../src/lib/ca/index.js';

const now = new Date('2026-06-01T12:00:00Z');

describe('CertAuthority', () => {
  const ca = CertAuthority.generate('user');
  const key = generateEd25519();

  it('issues user certificates per the identity contract', () => {
    const { blob } = ca.issueUserCert({ publicKey: key.publicBlob, user: 'joe', logins: ['joe', 'root'], ttlMs: 12 * 3_600_000 }, now);
    const c = parseCertificate(blob);
    expect(c.type).toBe('user');
    expect(c.keyId).toBe('joe');
    expect(c.principals).toEqual(['joe', 'root']);
    expect(c.extensions).toEqual(USER_CERT_EXTENSIONS);
    expect(c.criticalOptions).toEqual({});
    expect(Number(c.validBefore) - Number(c.validAfter)).toBe(12 * 3600 + 60);
    expect(c.signatureKey.equals(ca.publicBlob)).toBe(true);
    expect(checkCertificate(c, { caPublicBlob: ca.publicBlob, type: 'user', now, principal: 'root' })).toBeUndefined();
  });

  it('pins certificates with source-address when asked', () => {
    const { blob } = ca.issueUserCert({ publicKey: key.publicBlob, user: 'joe', logins: ['joe'], ttlMs: 60_000, sourceAddresses: ['10.0.0.5/32', '10.0.0.6/32'] }, now);
    expect(parseCertificate(blob).criticalOptions).toEqual({ 'source-address': '10.0.0.5/32,10.0.0.6/32' });
  });

  it('check refuses wrong principal, expiry, wrong type, another CA and tampering', () => {
    const { blob } = ca.issueUserCert({ publicKey: key.publicBlob, user: 'joe', logins: ['joe'], ttlMs: 3_600_000 }, now);
    const c = parseCertificate(blob);
    const base = { caPublicBlob: ca.publicBlob, type: 'user' as const, now };
    expect(checkCertificate(c, { ...base, principal: 'root' })).toMatch(/does not allow "root"/);
    expect(checkCertificate(c, { ...base, now: new Date(now.getTime() + 2 * 3_600_000) })).toMatch(/expired/);
    expect(checkCertificate(c, { ...base, now: new Date(now.getTime() - 2 * 3_600_000) })).toMatch(/not yet valid/);
    expect(checkCertificate(c, { ...base, type: 'host' })).toMatch(/not a host certificate/);
    expect(checkCertificate(c, { ...base, caPublicBlob: CertAuthority.generate('user').publicBlob })).toMatch(/not signed by the trusted/);
    const tampered = Buffer.from(blob);
    const idAt = tampered.indexOf(Buffer.from('joe'));
    tampered[idAt] = 'x'.charCodeAt(0);
    expect(checkCertificate(parseCertificate(tampered), base)).toMatch(/signature is invalid/);
  });

  it('host certificates carry host names as principals and no extensions', () => {
    const host = CertAuthority.generate('host');
    const { blob } = host.issueHostCert({ publicKey: key.publicBlob, hosts: ['node1.example.com', '10.0.0.5'], ttlMs: 3_600_000 }, now);
    const c = parseCertificate(blob);
    expect(c.type).toBe('host');
    expect(c.keyId).toBe('node1.example.com');
    expect(c.principals).toEqual(['node1.example.com', '10.0.0.5']);
    expect(c.extensions).toEqual({});
    expect(() => host.issueUserCert({ publicKey: key.publicBlob, user: 'joe', logins: ['joe'], ttlMs: 1 }, now)).toThrow(/user CA/);
  });

  it('refuses non-ed25519 subjects and malformed blobs', () => {
    const { publicKey } = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
    void publicKey;
    const fake = Buffer.concat([Buffer.from([0, 0, 0, 7]), Buffer.from('ssh-rsa'), Buffer.from([0, 0, 0, 1, 1])]);
    expect(() => ca.issueUserCert({ publicKey: fake, user: 'joe', logins: ['joe'], ttlMs: 60_000 }, now)).toThrow(/cannot certify a ssh-rsa key/);
    expect(() => parseCertificate(Buffer.from([0, 0, 0, 200]))).toThrow(/truncated/);
  });

  it('parses and prints public key lines', () => {
    const line = publicKeyLine(key.publicBlob, 'joe@box');
    const p = parsePublicKeyLine(line);
    expect(p.algo).toBe('ssh-ed25519');
    expect(p.blob.equals(key.publicBlob)).toBe(true);
    expect(p.comment).toBe('joe@box');
    expect(() => parsePublicKeyLine('ssh-ed25519 !!!')).toThrow(/malformed/);
  });

  it('round-trips through PEM', () => {
    const again = CertAuthority.fromPem('user', ca.pem, ca.publicBlob);
    const { blob } = again.issueUserCert({ publicKey: key.publicBlob, user: 'joe', logins: ['joe'], ttlMs: 60_000 }, now);
    expect(checkCertificate(parseCertificate(blob), { caPublicBlob: ca.publicBlob, type: 'user', now })).toBeUndefined();
  });
});

describe('private key files', () => {
  it('round-trips an ed25519 key through the OpenSSH format', async () => {
    const { privateKeyToOpenSSH, parsePrivateKeyText, rawEd25519Public } = await import('../../src/lib/ca/keys.js');
    const k = generateEd25519();
    const text = await privateKeyToOpenSSH(k.privateKey, 'joe');
    expect(text).toMatch(/^-----BEGIN OPENSSH PRIVATE KEY-----/);
    const back = await parsePrivateKeyText(text);
    expect(rawEd25519Public(back).equals(rawEd25519Public(k.privateKey))).toBe(true);
    const sig = crypto.sign(null, Buffer.from('x'), back);
    expect(crypto.verify(null, Buffer.from('x'), crypto.createPublicKey(k.privateKey), sig)).toBe(true);
  });

  it('reads unencrypted ed25519 OpenSSH files itself (tsh login\'s and ssh-keygen\'s), as sshpk does; anything else goes to sshpk', async () => {
    const { privateKeyToOpenSSH, parseOpenSshEd25519, parsePrivateKeyText } = await import('../../src/lib/ca/keys.js');
    const { default: sshpk } = await import('sshpk');
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tollgate-keys-'));
    try {
      const keygen = (name: string, args: string[]) => {
        execFileSync('ssh-keygen', ['-q', '-f', path.join(dir, name), '-C', 'c', ...args]);
        return fs.readFileSync(path.join(dir, name), 'utf8');
      };
      const jwk = (k: crypto.KeyObject) => k.export({ format: 'jwk' });
      for (const text of [await privateKeyToOpenSSH(generateEd25519().privateKey, 'joe'), keygen('plain', ['-t', 'ed25519', '-N', ''])]) {
        const own = parseOpenSshEd25519(text);
        expect(own).toBeDefined();
        const viaSshpk = sshpk.parsePrivateKey(text, 'auto');
        expect(jwk(own!).x).toBe((viaSshpk as unknown as { part: { A: { data: Buffer } } }).part.A.data.toString('base64url'));
        expect(jwk(await parsePrivateKeyText(text))).toEqual(jwk(own!));
      }
      expect(parseOpenSshEd25519(keygen('locked', ['-t', 'ed25519', '-N', 'secret']))).toBeUndefined();
      const rsa = keygen('rsa', ['-t', 'rsa', '-b', '1024', '-N', '']);
      expect(parseOpenSshEd25519(rsa)).toBeUndefined();
      await expect(parsePrivateKeyText(rsa)).rejects.toThrow(/unsupported private key type rsa/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
