import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import ssh2 from 'ssh2';
import type { ConnectConfig, ParsedKey, PublicKeyAuthMethod, Server as Ssh2Server } from 'ssh2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CertAuthority } from '../../src/lib/ca/cert-authority.js';
import { certificateLine, ED25519_CERT } from '../../src/lib/ca/certificate.js';
import { generateEd25519, privateKeyToOpenSSH } from '../../src/lib/ca/keys.js';
import { certifiedKey, hostCertVerifier, hostKeyWithCertificate, HOST_DENIED_MESSAGE, assertSsh2Patched, plainHostKey, ssh2PrivateKey, type HostCertVerifier, type HostCertVerifierOptions } from '../../src/lib/ssh/index.js';
import { tmpDir } from '../helpers/proc.js';
import { startSshd, type TestSshd } from '../helpers/sshd.js';

/*
 * The ssh2 Client verifying OpenSSH host certificates (src/lib/ssh/client-host-cert.ts and
 * patches/ssh2+1.17.0.patch, constants.js and kex.js): against a real sshd 9.2 with HostKey + HostCertificate, a
 * plain sshd, and ssh2 Servers presenting hostKeyWithCertificate (the tsh → proxy hop).
 * Everything listens on 127.0.0.1 and is stopped in afterAll.
 */
const { Client, Server } = ssh2;
const HOUR = 3_600_000;
const NODE = 'node1.example.test';

interface ExecResult {
  stdout: string;
  code: number | undefined;
  /** negotiated.serverHostKey from the 'handshake' event(s), in order. */
  hostKeyAlgos: string[];
}

/**
 * Connects, optionally re-keys (client-initiated), runs one command; resolves with its output,
 * rejects with the connection error (as the proxy would see it).
 */
function ssh2Exec(config: ConnectConfig, command: string, opts: { rekey?: boolean } = {}): Promise<ExecResult> {
  return new Promise((resolve, reject) => {
    const client = new Client();
    const hostKeyAlgos: string[] = [];
    client.on('handshake', (n) => hostKeyAlgos.push(n.serverHostKey));
    client.on('error', reject);
    const exec = () =>
      client.exec(command, (err, stream) => {
        if (err) {
          client.end();
          return reject(err);
        }
        let stdout = '';
        let code: number | undefined;
        stream.on('data', (d: Buffer) => (stdout += d.toString()));
        stream.stderr.on('data', () => {});
        stream.on('exit', (c: number) => (code = c));
        stream.on('close', () => {
          client.end();
          resolve({ stdout, code, hostKeyAlgos });
        });
      });
    client.on('ready', () => {
      if (!opts.rekey) return exec();
      // ssh2's Client has no public rekey(); its Protocol does (a second key exchange, client-initiated).
      client.once('handshake', () => exec());
      (client as unknown as { _protocol: { rekey(): void } })._protocol.rekey();
    });
    client.connect({ host: '127.0.0.1', readyTimeout: 10_000, ...config });
  });
}

describe('ssh2 client: host certificates', () => {
  let work: string;
  const userCa = CertAuthority.generate('user');
  const hostCa = CertAuthority.generate('host');
  const otherHostCa = CertAuthority.generate('host');
  const hostKey = generateEd25519();
  const hostCert = hostCa.issueHostCert({ publicKey: hostKey.publicBlob, hosts: ['localhost', NODE], ttlMs: HOUR }, new Date());
  /** root's login: a user certificate held in memory (certifiedKey), accepted by sshd through TrustedUserCAKeys. */
  const user = generateEd25519();
  const userCert = userCa.issueUserCert({ publicKey: user.publicBlob, user: 'alice', logins: ['root'], ttlMs: HOUR }, new Date());
  const rootLogin = (): ConnectConfig => {
    const method: PublicKeyAuthMethod = { type: 'publickey', username: 'root', key: certifiedKey(user.privateKey, userCert.blob) as unknown as ParsedKey };
    return { username: 'root', authHandler: [method] };
  };

  let certSshd: TestSshd;
  let expiredSshd: TestSshd;
  let plainSshd: TestSshd;
  const servers: Ssh2Server[] = [];
  const relays: net.Server[] = [];

  /** An OpenSSH host key file for `key`, with `${file}-cert.pub` holding `certBlob`. */
  async function hostKeyFiles(name: string, key: ReturnType<typeof generateEd25519>, certBlob: Buffer): Promise<{ hostKey: string; hostCertificate: string }> {
    const file = path.join(work, name);
    fs.writeFileSync(file, await privateKeyToOpenSSH(key.privateKey, name), { mode: 0o600 });
    fs.writeFileSync(`${file}-cert.pub`, `${certificateLine(certBlob)}\n`);
    return { hostKey: file, hostCertificate: `${file}-cert.pub` };
  }

  /** An ssh2 Server with `hostKeys` that lets anyone in ('none') and answers an exec with "ran CMD". */
  async function ssh2Server(hostKeys: ConstructorParameters<typeof Server>[0]['hostKeys']): Promise<number> {
    const server = new Server({ hostKeys }, (conn) => {
      conn.on('authentication', (ctx) => ctx.accept());
      conn.on('error', () => {});
      conn.on('session', (accept) => {
        accept().on('exec', (acceptExec, _reject, info) => {
          const stream = acceptExec();
          stream.write(`ran ${info.command}\n`, () => {
            stream.exit(0);
            stream.end();
          });
        });
      });
    });
    servers.push(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return (server.address() as net.AddressInfo).port;
  }

  function verifier(opts: Partial<HostCertVerifierOptions> = {}): HostCertVerifier {
    return hostCertVerifier({ hostCaBlob: hostCa.publicBlob, hostname: NODE, peer: 'node', ...opts });
  }

  /** Connects expecting a refusal; returns the verifier's explanation of the error. */
  async function refusal(port: number, v: HostCertVerifier): Promise<string> {
    const err = await ssh2Exec({ port, ...rootLogin(), ...v }, 'echo ok').then(
      () => {
        throw new Error('connected, but the host key should have been refused');
      },
      (e: Error) => e,
    );
    return v.describeError(err);
  }

  beforeAll(async () => {
    // certifiedKey (root's login) needs patch 1; hostCertVerifier would install the patches itself.
    assertSsh2Patched();
    work = tmpDir('tollgate-host-cert-client-');
    const trustedUserCaKeys = `${userCa.publicKeyLine()}\n`;
    certSshd = await startSshd({ trustedUserCaKeys, ...(await hostKeyFiles('host_cert', hostKey, hostCert.blob)) });
    const oldKey = generateEd25519();
    const oldCert = hostCa.issueHostCert({ publicKey: oldKey.publicBlob, hosts: [NODE], ttlMs: HOUR }, new Date(Date.now() - 3 * HOUR));
    expiredSshd = await startSshd({ trustedUserCaKeys, ...(await hostKeyFiles('host_expired', oldKey, oldCert.blob)) });
    plainSshd = await startSshd({ trustedUserCaKeys });
  });

  afterAll(async () => {
    for (const s of servers) await new Promise<void>((resolve) => s.close(() => resolve()));
    for (const r of relays) await new Promise<void>((resolve) => r.close(() => resolve()));
    await certSshd?.stop();
    await expiredSshd?.stop();
    await plainSshd?.stop();
    if (work) fs.rmSync(work, { recursive: true, force: true });
  });

  describe('real sshd with HostKey + HostCertificate', () => {
    it('without hostCertVerifier, ssh2 negotiates the plain key and never sees the certificate (the gap)', async () => {
      const seen: string[] = [];
      const r = await ssh2Exec({ port: certSshd.port, ...rootLogin(), hostVerifier: (key: Buffer) => (seen.push(key.toString('base64')), true) }, 'echo ok');
      expect(r.hostKeyAlgos).toEqual(['ssh-ed25519']);
      expect(seen).toEqual([hostKey.publicBlob.toString('base64')]);
    });

    it('(1) accepts the certificate for the name dialled, verifies the kex signature, runs a command, survives a re-key', async () => {
      const v = verifier();
      expect(v.algorithms.serverHostKey[0]).toBe(ED25519_CERT);
      const r = await ssh2Exec({ port: certSshd.port, ...rootLogin(), ...v }, 'echo ok', { rekey: true });
      expect(r.stdout).toBe('ok\n');
      expect(r.code).toBe(0);
      // The 'handshake' event shows the negotiated certificate algorithm (patch 4 leaves `negotiated` alone), twice: connect and re-key.
      expect(r.hostKeyAlgos).toEqual([ED25519_CERT, ED25519_CERT]);
      expect(v.lastError()).toBeUndefined();
      const seen = v.lastHostKey();
      expect(seen?.kind).toBe('certificate');
      if (seen?.kind === 'certificate') {
        expect(seen.certificate.blob.equals(hostCert.blob)).toBe(true);
        expect(seen.certificate.principals).toEqual(['localhost', NODE]);
      }
    });

    it('(2) refuses a host name the certificate does not name', async () => {
      const v = verifier({ hostname: 'other.example.test' });
      expect(await refusal(certSshd.port, v)).toBe(
        `host key verification failed: host certificate does not allow "other.example.test" (it names "localhost", "${NODE}")`,
      );
    });

    it('(3) refuses a certificate from another host CA', async () => {
      const v = verifier({ hostCaBlob: otherHostCa.publicBlob });
      expect(await refusal(certSshd.port, v)).toBe("host key verification failed: host certificate is not signed by the cluster's host CA");
      expect(v.lastError()).toBe("host certificate is not signed by the cluster's host CA");
    });

    it('(4) refuses an expired host certificate (and a valid one under a clock past its end)', async () => {
      const v = verifier();
      expect(await refusal(expiredSshd.port, v)).toMatch(/^host key verification failed: host certificate has expired \(valid before \d{4}-/);
      const late = verifier({ now: () => new Date(Date.now() + 2 * HOUR) });
      expect(await refusal(certSshd.port, late)).toMatch(/host certificate has expired/);
    });

    it('refuses a user certificate the CA signed, presented as a host key (type check)', () => {
      const userCaAsHost = hostCertVerifier({ hostCaBlob: userCa.publicBlob, hostname: 'root', peer: 'node' });
      expect(userCaAsHost.hostVerifier(userCert.blob)).toBe(false);
      expect(userCaAsHost.lastError()).toBe('node presented a user certificate as its host key, not a host certificate');
    });
  });

  describe('(5) real sshd without a host certificate', () => {
    it('is refused by default: no host certificate', async () => {
      const v = verifier();
      expect(await refusal(plainSshd.port, v)).toBe('host key verification failed: node presented no host certificate (a plain ssh-ed25519 key)');
      expect(v.lastHostKey()).toMatchObject({ kind: 'plain', algorithm: 'ssh-ed25519' });
    });

    it('is accepted when allowPlainKey says so (proxy_checks_host_keys: no), which sees the key blob', async () => {
      const asked: string[] = [];
      const v = verifier({ allowPlainKey: (blob) => (asked.push(blob.subarray(0, 15).toString('latin1')), true) });
      const r = await ssh2Exec({ port: plainSshd.port, ...rootLogin(), ...v }, 'echo ok');
      expect(r.stdout).toBe('ok\n');
      expect(r.hostKeyAlgos).toEqual(['ssh-ed25519']);
      expect(asked).toEqual([`\0\0\0\x0bssh-ed25519`]);
      expect(v.lastError()).toBeUndefined();
    });

    it('is refused when allowPlainKey says no', async () => {
      const v = verifier({ allowPlainKey: () => false });
      expect(await refusal(plainSshd.port, v)).toMatch(/no host certificate/);
    });
  });

  describe('ssh2 Server presenting hostKeyWithCertificate (tsh → proxy)', () => {
    it('(6) is accepted for a name in the certificate, refused for another', async () => {
      const port = await ssh2Server([hostKeyWithCertificate(hostKey.privateKey, hostCert.blob), plainHostKey(hostKey.privateKey)]);
      const r = await ssh2Exec({ port, username: 'alice', ...verifier({ hostname: 'localhost', peer: 'proxy' }) }, 'hello', { rekey: true });
      expect(r).toEqual({ stdout: 'ran hello\n', code: 0, hostKeyAlgos: [ED25519_CERT, ED25519_CERT] });
      const v = verifier({ hostname: 'proxy.example.test', peer: 'proxy' });
      const err = await ssh2Exec({ port, username: 'alice', ...v }, 'hello').catch((e: Error) => e);
      expect(err).toBeInstanceOf(Error);
      expect((err as Error).message).toBe(HOST_DENIED_MESSAGE);
      expect(v.lastError()).toMatch(/^host certificate does not allow "proxy.example.test"/);
    });

    it('(7) refuses a server that presents a valid certificate but signs the exchange hash with another key', async () => {
      assertSsh2Patched();
      // hostKeyWithCertificate refuses a mismatched key, so dress the impostor's key by hand, as cert-keys.ts does.
      const impostor = ssh2PrivateKey(generateEd25519().privateKey);
      impostor.type = ED25519_CERT;
      impostor.getPublicSSH = () => hostCert.blob;
      const port = await ssh2Server([{ key: impostor as unknown as ParsedKey }]);
      const v = verifier({ hostname: 'localhost', peer: 'proxy' });
      await expect(ssh2Exec({ port, username: 'alice', ...v }, 'hello')).rejects.toThrow(/signature verification failed/);
      // The certificate itself was acceptable: the refusal is the signature check (patch 4), after the verifier.
      expect(v.lastError()).toBeUndefined();
      expect(v.lastHostKey()?.kind).toBe('certificate');
    });
  });

  describe("the patched kex.js on its own (a man in the middle relabels the server's signature)", () => {
    /**
     * A TCP relay to `port` that rewrites the signature format in the server's first key
     * exchange reply (sent in the clear, before NEWKEYS) to `sigFormat`, keeping the signature
     * bytes, and passes everything else through.
     */
    async function relabellingRelay(port: number, sigFormat: string): Promise<number> {
      const relay = net.createServer((client) => {
        const upstream = net.connect(port, '127.0.0.1');
        client.on('error', () => upstream.destroy());
        upstream.on('error', () => client.destroy());
        client.pipe(upstream);
        let pending = Buffer.alloc(0);
        let identDone = false;
        let rewritten = false;
        upstream.on('data', (chunk: Buffer) => {
          if (rewritten) return void client.write(chunk);
          pending = Buffer.concat([pending, chunk]);
          const out: Buffer[] = [];
          if (!identDone) {
            const eol = pending.indexOf('\n');
            if (eol < 0) return;
            out.push(pending.subarray(0, eol + 1));
            pending = pending.subarray(eol + 1);
            identDone = true;
          }
          // Binary packets without a MAC until NEWKEYS: uint32 length, byte padding, payload, padding.
          while (!rewritten && pending.length >= 4 && pending.length >= 4 + pending.readUInt32BE(0)) {
            const len = pending.readUInt32BE(0);
            const packet = pending.subarray(0, 4 + len);
            pending = pending.subarray(4 + len);
            const payload = packet.subarray(5, 4 + len - packet[4]!);
            if (payload[0] !== 31) {
              out.push(packet);
              continue;
            }
            out.push(relabelKexReply(payload, sigFormat));
            rewritten = true;
          }
          if (rewritten) out.push(pending);
          client.write(Buffer.concat(out));
        });
        upstream.on('end', () => client.end());
      });
      relays.push(relay);
      await new Promise<void>((resolve) => relay.listen(0, '127.0.0.1', resolve));
      return (relay.address() as net.AddressInfo).port;
    }

    it('passes a re-framed reply with the plain signature name through (control for the relay)', async () => {
      const port = await ssh2Server([hostKeyWithCertificate(hostKey.privateKey, hostCert.blob)]);
      const v = verifier({ hostname: 'localhost', peer: 'proxy' });
      const r = await ssh2Exec({ port: await relabellingRelay(port, 'ssh-ed25519'), username: 'alice', ...v }, 'hello');
      expect(r).toEqual({ stdout: 'ran hello\n', code: 0, hostKeyAlgos: [ED25519_CERT] });
    });

    it('refuses a kex signature labelled with the certificate algorithm (what an unpatched ssh2 server sends; OpenSSH refuses it too)', async () => {
      const port = await ssh2Server([hostKeyWithCertificate(hostKey.privateKey, hostCert.blob)]);
      const v = verifier({ hostname: 'localhost', peer: 'proxy' });
      const relayed = await relabellingRelay(port, ED25519_CERT);
      await expect(ssh2Exec({ port: relayed, username: 'alice', ...v }, 'hello')).rejects.toThrow(`Wrong signature type: ${ED25519_CERT}, expected: ssh-ed25519`);
      // The certificate itself was acceptable: the refusal is kex.js's signature check, after the verifier.
      expect(v.lastError()).toBeUndefined();
      expect(v.lastHostKey()?.kind).toBe('certificate');
    });
  });

  describe('API edges', () => {
    it('refuses a fingerprint (hostHash set) and a malformed certificate', () => {
      const v = verifier();
      expect(v.hostVerifier('ab:cd')).toBe(false);
      expect(v.lastError()).toMatch(/do not set ssh2 hostHash/);
      const truncated = hostCert.blob.subarray(0, 60);
      expect(v.hostVerifier(truncated)).toBe(false);
      expect(v.lastError()).toMatch(/^node presented a malformed host certificate: /);
      expect(v.describeError(new Error('connect ECONNREFUSED 127.0.0.1:1'))).toBe('connect ECONNREFUSED 127.0.0.1:1');
    });

    it('offers the certificate algorithm first, then ssh2 defaults; installing the patches twice is harmless', () => {
      assertSsh2Patched();
      assertSsh2Patched();
      const { algorithms } = verifier();
      const list: string[] = algorithms.serverHostKey;
      expect(list[0]).toBe(ED25519_CERT);
      expect(list.slice(1)).toContain('ssh-ed25519');
      expect(list.filter((a) => a === ED25519_CERT)).toHaveLength(1);
      // ssh2's own config check accepts the list (it threw "Unsupported algorithm" before patch 3).
      const client = new Client();
      client.on('error', () => {});
      try {
        expect(() => client.connect({ host: '127.0.0.1', port: 1, username: 'x', algorithms })).not.toThrow();
      } finally {
        client.end();
      }
    });
  });
});

function wireString(b: Buffer): Buffer {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(b.length);
  return Buffer.concat([len, b]);
}

/** Reads the `string`s of a wire blob. */
function wireStrings(b: Buffer, count: number): Buffer[] {
  const out: Buffer[] = [];
  let p = 0;
  for (let i = 0; i < count; i++) {
    const len = b.readUInt32BE(p);
    out.push(b.subarray(p + 4, p + 4 + len));
    p += 4 + len;
  }
  return out;
}

/**
 * A KEX*_REPLY payload (byte 31, string K_S, string Q_S, string signature of H) whose signature
 * format is `sigFormat`, framed as an unencrypted binary packet (RFC 4253 §6: padding of at
 * least 4 bytes to a multiple of 8).
 */
function relabelKexReply(payload: Buffer, sigFormat: string): Buffer {
  const [hostKeyBlob, serverPublic, sigBlob] = wireStrings(payload.subarray(1), 3) as [Buffer, Buffer, Buffer];
  const [, sig] = wireStrings(sigBlob, 2) as [Buffer, Buffer];
  const newSig = Buffer.concat([wireString(Buffer.from(sigFormat)), wireString(sig)]);
  const body = Buffer.concat([Buffer.from([31]), wireString(hostKeyBlob), wireString(serverPublic), wireString(newSig)]);
  let pad = 8 - ((5 + body.length) % 8);
  if (pad < 4) pad += 8;
  const header = Buffer.alloc(5);
  header.writeUInt32BE(1 + body.length + pad);
  header[4] = pad;
  return Buffer.concat([header, body, Buffer.alloc(pad)]);
}
