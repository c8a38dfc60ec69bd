import type net from 'node:net';
import { createRequire } from 'node:module';
import ssh2 from 'ssh2';
import type { AuthContext, ConnectConfig, ParsedKey, PublicKeyAuthMethod, Server as Ssh2Server } from 'ssh2';
import { afterAll, describe, expect, it } from 'vitest';
import { CertAuthority } from '../../src/lib/ca/cert-authority.js';
import { ED25519_CERT } from '../../src/lib/ca/certificate.js';
import { generateEd25519 } from '../../src/lib/ca/keys.js';
import { TollgateError } from '../../src/lib/errors.js';
import { assertSsh2Patched, CERT_SIGNATURE_ALGORITHMS, certifiedKey, hostCertVerifier, hostKeyWithCertificate, plainHostKey, SSH2_PATCH_REVISION, SUPPORTED_SSH2_VERSION, verifyUserCertAuth, type CertAuthResult, type InstalledSsh2 } from '../../src/lib/ssh/index.js';
import { installedSsh2 } from '../../src/lib/ssh/ssh2-patch.js';

/*
 * patches/ssh2+1.17.0.patch is applied to node_modules/ssh2 (by patch-package in npm ci's
 * postinstall) and does what patches/README.md says, in-process: an ssh2 Client logs in with a
 * certificate to an ssh2 Server (Protocol.js authPK names the plain signature algorithm, or
 * verifyUserCertAuth refuses) and verifies that Server's host certificate (constants.js lets
 * the Client offer it, kex.js signs and verifies under the plain algorithm with the subject
 * key). The real-OpenSSH side is in ssh-certs.test.ts and ssh-host-cert-client.test.ts.
 */
const { Client, Server } = ssh2;
const require = createRequire(import.meta.url);
const HOUR = 3_600_000;

describe('patches/ssh2+1.17.0.patch', () => {
  const servers: Ssh2Server[] = [];

  afterAll(async () => {
    for (const s of servers) await new Promise<void>((resolve) => s.close(() => resolve()));
  });

  describe('marker and assertSsh2Patched()', () => {
    it('is applied to the installed ssh2, which is the pinned version', () => {
      const constants = require('ssh2/lib/protocol/constants.js') as Record<string, unknown>;
      expect((require('ssh2/package.json') as { version: string }).version).toBe(SUPPORTED_SSH2_VERSION);
      expect(constants.TOLLGATE_SSH2_PATCH).toBe(SSH2_PATCH_REVISION);
      expect(() => assertSsh2Patched()).not.toThrow();
      // ssh2's own certificate table is the one tollgate's certificate layer uses.
      expect({ ...(constants.CERT_SIGNATURE_ALGORITHMS as object) }).toEqual({ ...CERT_SIGNATURE_ALGORITHMS });
      expect(constants.SUPPORTED_SERVER_HOST_KEY).toContain(ED25519_CERT);
      expect(constants.DEFAULT_SERVER_HOST_KEY).not.toContain(ED25519_CERT);
      expect(typeof (Server as unknown as { IncomingClient: { prototype: Record<string, unknown> } }).IncomingClient.prototype.openssh_authAgent).toBe('function');
    });

    /** The installed ssh2 as assertSsh2Patched sees it, with `change` applied to a copy. */
    function installed(change: (i: InstalledSsh2) => void): InstalledSsh2 {
      const real = installedSsh2();
      const copy: InstalledSsh2 = { version: real.version, constants: { ...real.constants } };
      change(copy);
      return copy;
    }

    function thrown(i: InstalledSsh2): TollgateError {
      try {
        assertSsh2Patched(i);
      } catch (err) {
        expect(err).toBeInstanceOf(TollgateError);
        return err as TollgateError;
      }
      throw new Error('assertSsh2Patched did not throw');
    }

    it('throws a clear error when the patch was not applied (no marker)', () => {
      const err = thrown(installed((i) => delete i.constants.TOLLGATE_SSH2_PATCH));
      expect(err.kind).toBe('internal');
      expect(err.message).toBe("ssh2 1.17.0 is installed without tollgate's patch (patches/ssh2+1.17.0.patch): OpenSSH certificates would not work");
      expect(err.hint).toMatch(/^reinstall with `npm ci` so that patches\/ssh2\+1\.17\.0\.patch is applied/);
    });

    it('throws for another revision of the patch', () => {
      const err = thrown(installed((i) => (i.constants.TOLLGATE_SSH2_PATCH = SSH2_PATCH_REVISION + 1)));
      expect(err.message).toBe(`ssh2 carries revision ${SSH2_PATCH_REVISION + 1} of tollgate's patch, but this tollgate needs revision ${SSH2_PATCH_REVISION}`);
      expect(err.hint).toMatch(/npm ci/);
    });

    it('throws for another ssh2 version, even with a marker', () => {
      const err = thrown(installed((i) => (i.version = '1.18.0')));
      expect(err.message).toBe('tollgate needs ssh2 1.17.0 exactly (with patches/ssh2+1.17.0.patch), but ssh2 1.18.0 is installed');
      expect(err.hint).toMatch(/^install ssh2@1\.17\.0/);
    });
  });

  describe('behaviour: ssh2 Client ↔ ssh2 Server with certificates, in-process', () => {
    const userCa = CertAuthority.generate('user');
    const hostCa = CertAuthority.generate('host');
    const user = generateEd25519();
    const userCert = userCa.issueUserCert({ publicKey: user.publicBlob, user: 'alice', logins: ['root'], ttlMs: HOUR }, new Date());
    const hostKey = generateEd25519();
    const hostCert = hostCa.issueHostCert({ publicKey: hostKey.publicBlob, hosts: ['localhost'], ttlMs: HOUR }, new Date());

    /** An ssh2 Server that accepts only user certificates from userCa (verifyUserCertAuth) and answers an exec with "LOGIN ran CMD". */
    async function certServer(hostKeys: ConstructorParameters<typeof Server>[0]['hostKeys'], results: CertAuthResult[]): Promise<number> {
      const server = new Server({ hostKeys }, (conn) => {
        let login = '';
        conn.on('authentication', (ctx: AuthContext) => {
          if (ctx.method !== 'publickey') return ctx.reject(['publickey']);
          const r = verifyUserCertAuth(ctx, { userCaBlob: userCa.publicBlob, now: new Date(), principal: ctx.username });
          results.push(r);
          if (!r.ok) return ctx.reject(['publickey']);
          login = ctx.username;
          ctx.accept();
        });
        conn.on('error', () => {});
        conn.on('session', (accept) => {
          accept().on('exec', (acceptExec, _reject, info) => {
            const stream = acceptExec();
            stream.write(`${login} ran ${info.command}\n`, () => {
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

    function exec(config: ConnectConfig, command: string): Promise<{ stdout: string; hostKeyAlgo: string | undefined }> {
      return new Promise((resolve, reject) => {
        const client = new Client();
        let hostKeyAlgo: string | undefined;
        client.on('handshake', (n) => (hostKeyAlgo = n.serverHostKey));
        client.on('error', reject);
        client.on('ready', () =>
          client.exec(command, (err, stream) => {
            if (err) return reject(err);
            let stdout = '';
            stream.on('data', (d: Buffer) => (stdout += d.toString()));
            stream.on('close', () => {
              client.end();
              resolve({ stdout, hostKeyAlgo });
            });
          }),
        );
        client.connect({ host: '127.0.0.1', readyTimeout: 10_000, ...config });
      });
    }

    const certLogin = (): ConnectConfig => {
      const method: PublicKeyAuthMethod = { type: 'publickey', username: 'root', key: certifiedKey(user.privateKey, userCert.blob) as unknown as ParsedKey };
      return { username: 'root', authHandler: [method] };
    };

    it('Protocol.js: logs in with a user certificate, the signature named "ssh-ed25519" (verifyUserCertAuth refuses the certificate name)', async () => {
      const results: CertAuthResult[] = [];
      const port = await certServer([plainHostKey(hostKey.privateKey)], results);
      const r = await exec({ port, ...certLogin() }, 'hi');
      expect(r).toEqual({ stdout: 'root ran hi\n', hostKeyAlgo: 'ssh-ed25519' });
      expect(results.map((x) => (x.ok ? `ok needsSignature=${x.needsSignature}` : x.reason))).toEqual(['ok needsSignature=true', 'ok needsSignature=false']);
    });

    it('constants.js + kex.js: the Client offers, receives and verifies the host certificate; the Server signs under "ssh-ed25519"', async () => {
      const port = await certServer([hostKeyWithCertificate(hostKey.privateKey, hostCert.blob), plainHostKey(hostKey.privateKey)], []);
      const v = hostCertVerifier({ hostCaBlob: hostCa.publicBlob, hostname: 'localhost', peer: 'proxy' });
      const r = await exec({ port, ...certLogin(), ...v }, 'hi');
      expect(r).toEqual({ stdout: 'root ran hi\n', hostKeyAlgo: ED25519_CERT });
      expect(v.lastHostKey()?.kind).toBe('certificate');
      expect(v.lastError()).toBeUndefined();
    });
  });
});
