import crypto, { type KeyObject } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import type { Duplex } from 'node:stream';
import ssh2 from 'ssh2';
import type { AuthContext, ConnectConfig, Connection, ParsedKey, Server as Ssh2Server, ServerChannel, SignCallback } from 'ssh2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AgentClient } from '../../src/lib/agent/agent-client.js';
import { CertAuthority } from '../../src/lib/ca/cert-authority.js';
import { certificateLine, ED25519_CERT } from '../../src/lib/ca/certificate.js';
import { generateEd25519, privateKeyToOpenSSH } from '../../src/lib/ca/keys.js';
import { certPublicKey, createCertAgent, hostKeyWithCertificate, assertSsh2Patched, openForwardedAgent, plainHostKey, verifyUserCertAuth, type CertAuthResult } from '../../src/lib/ssh/index.js';
import { AgentStream } from '../../src/lib/agent/index.js';
import { TestAgent } from '../helpers/agent.js';
import { run, tmpDir } from '../helpers/proc.js';
import { sshBaseArgs, startSshd, type TestSshd } from '../helpers/sshd.js';

/*
 * The ssh2 certificate layer (src/lib/ssh/index.ts) against real OpenSSH peers: sshd 9.2
 * with TrustedUserCAKeys, the ssh client with certificates and @cert-authority, ssh-agent.
 * Everything listens on 127.0.0.1 and is stopped in afterAll.
 */
const { BaseAgent, Client, Server } = ssh2;
const HOUR = 3_600_000;
const PLAIN_KEY_REFUSED = { ok: false, reason: 'not a certificate: ssh-ed25519' };

interface UserKey {
  privateKey: KeyObject;
  certBlob: Buffer;
  /** Path of the OpenSSH private key file; `${file}-cert.pub` holds the certificate. */
  file: string;
}

/** Runs one command over an ssh2 Client; resolves with its output and exit code, rejects on connect/auth errors. */
function ssh2Exec(config: ConnectConfig, command: string): Promise<{ stdout: string; code: number | undefined }> {
  return new Promise((resolve, reject) => {
    const client = new Client();
    client.on('error', reject);
    client.on('ready', () => {
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
          resolve({ stdout, code });
        });
      });
    });
    client.connect({ host: '127.0.0.1', readyTimeout: 10_000, ...config });
  });
}

interface CertServer {
  server: Ssh2Server;
  port: number;
  /** Every verifyUserCertAuth result, in order. */
  results: CertAuthResult[];
  close(): Promise<void>;
}

type SessionHandler = (conn: Connection, username: string, command: string, stream: ServerChannel, agentForwarded: boolean) => void;

/**
 * An ssh2 Server that accepts only user certificates from `userCa` for the requested login,
 * checked by verifyUserCertAuth, and hands each exec to `onExec`.
 */
async function startCertServer(userCa: CertAuthority, hostKeys: ConstructorParameters<typeof Server>[0]['hostKeys'], onExec: SessionHandler): Promise<CertServer> {
  const results: CertAuthResult[] = [];
  const server = new Server({ hostKeys }, (conn) => {
    let username = '';
    conn.on('authentication', (ctx: AuthContext) => {
      if (ctx.method !== 'publickey') return ctx.reject(['publickey']);
      const r = verifyUserCertAuth(ctx, { userCaBlob: userCa.publicBlob, now: new Date(), principal: ctx.username });
      results.push(r);
      if (!r.ok) return ctx.reject(['publickey']);
      username = ctx.username;
      ctx.accept();
    });
    conn.on('error', () => {});
    conn.on('session', (accept) => {
      const session = accept();
      let agentForwarded = false;
      session.on('auth-agent', (acceptAgent) => {
        agentForwarded = true;
        acceptAgent?.();
      });
      session.on('exec', (acceptExec, _reject, info) => {
        // Accept synchronously: after the client's EOF, accept() returns undefined.
        const stream = acceptExec();
        onExec(conn, username, info.command, stream, agentForwarded);
      });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  return {
    server,
    port,
    results,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** Sends the output, then exit-status, then EOF+CLOSE (end() sends both on a server channel). */
function finish(stream: ServerChannel, output: string, status: number): void {
  stream.write(output, () => {
    stream.exit(status);
    stream.end();
  });
}

/** A signature as an OpenSSH agent would return it for `key`: ssh2 wants the bare signature. */
function ed25519Sign(data: Buffer, key: KeyObject): Buffer {
  return crypto.sign(null, data, key);
}

describe('ssh2 certificate support', () => {
  let work: string;
  let userCa: CertAuthority;
  let otherCa: CertAuthority;
  let hostCa: CertAuthority;
  let agent: TestAgent;
  let sshd: TestSshd;
  let alice: UserKey;
  const servers: CertServer[] = [];

  async function userKey(ca: CertAuthority, logins: string[], name: string, opts: { now?: Date; ttlMs?: number } = {}): Promise<UserKey> {
    const key = generateEd25519();
    const cert = ca.issueUserCert({ publicKey: key.publicBlob, user: name, logins, ttlMs: opts.ttlMs ?? HOUR }, opts.now ?? new Date());
    const file = path.join(work, name);
    fs.writeFileSync(file, await privateKeyToOpenSSH(key.privateKey, name), { mode: 0o600 });
    fs.writeFileSync(`${file}-cert.pub`, `${certificateLine(cert.blob)}\n`);
    return { privateKey: key.privateKey, certBlob: cert.blob, file };
  }

  /** OpenSSH `ssh` with a key file and its certificate, no agent, host key not checked. */
  function sshWithCert(port: number, key: UserKey, login: string, command: string) {
    return run('ssh', [
      ...sshBaseArgs(port),
      '-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null',
      '-o', 'IdentitiesOnly=yes', '-i', key.file, '-o', `CertificateFile=${key.file}-cert.pub`,
      `${login}@127.0.0.1`, command,
    ]);
  }

  async function echoServer(): Promise<CertServer> {
    const s = await startCertServer(userCa, [plainHostKey(generateEd25519().privateKey)], (_conn, username, command, stream) => {
      finish(stream, `${username} ran ${command}\n`, 0);
    });
    servers.push(s);
    return s;
  }

  beforeAll(async () => {
    work = tmpDir('tollgate-ssh-certs-');
    userCa = CertAuthority.generate('user');
    otherCa = CertAuthority.generate('user');
    hostCa = CertAuthority.generate('host');
    sshd = await startSshd({ trustedUserCaKeys: `${userCa.publicKeyLine()}\n` });
    agent = await TestAgent.start();
    alice = await userKey(userCa, ['root'], 'alice');
    await new AgentClient(agent.socket).addCertificate(alice.privateKey, alice.certBlob, 'alice');
  });

  afterAll(async () => {
    for (const s of servers) await s.close();
    await agent?.stop();
    if (agent) fs.rmSync(path.dirname(agent.socket), { recursive: true, force: true });
    await sshd?.stop();
    if (work) fs.rmSync(work, { recursive: true, force: true });
  });

  describe('patches', () => {
    it('install idempotently and present certificates as ssh2 key objects', () => {
      assertSsh2Patched();
      assertSsh2Patched();
      expect(certPublicKey(alice.certBlob).type).toBe(ED25519_CERT);
      expect(certPublicKey(alice.certBlob).getPublicSSH().equals(alice.certBlob)).toBe(true);
    });
  });

  describe('1. client: certificate from an ssh-agent', () => {
    it('stock ssh2 drops certificate identities (the gap this layer closes)', async () => {
      await expect(ssh2Exec({ port: sshd.port, username: 'root', agent: agent.socket }, 'echo ok')).rejects.toThrow(/authentication methods failed/);
    });

    it('logs into a real sshd (TrustedUserCAKeys) as root through an agent socket', async () => {
      const r = await ssh2Exec({ port: sshd.port, username: 'root', agent: createCertAgent(agent.socket) }, 'echo ok');
      expect(r).toEqual({ stdout: 'ok\n', code: 0 });
    });

    it('can be pinned to one certificate, and over one shared agent stream', async () => {
      const pinned = createCertAgent(agent.socket, { certBlob: alice.certBlob });
      expect((await pinned.identities()).map((k) => k.getPublicSSH().toString('base64'))).toEqual([alice.certBlob.toString('base64')]);
      const sock = net.connect(agent.socket);
      await new Promise((r) => sock.once('connect', r));
      try {
        const r = await ssh2Exec({ port: sshd.port, username: 'root', agent: createCertAgent(sock) }, 'id -un');
        expect(r.stdout).toBe('root\n');
      } finally {
        sock.destroy();
      }
      const other = await userKey(userCa, ['root'], 'not-in-agent');
      await expect(createCertAgent(agent.socket, { certBlob: other.certBlob }).identities()).rejects.toThrow(/does not hold the requested certificate/);
    });

    it('forwards the agent to the node (ssh2 agentForward uses CertAgent.getStream)', async () => {
      const r = await ssh2Exec({ port: sshd.port, username: 'root', agent: createCertAgent(agent.socket), agentForward: true }, 'ssh-add -L');
      expect(r.stdout).toBe(`${certificateLine(alice.certBlob)} alice\n`);
    });

    it('is refused by sshd for a login the certificate does not allow', async () => {
      await expect(ssh2Exec({ port: sshd.port, username: 'nobody', agent: createCertAgent(agent.socket) }, 'echo ok')).rejects.toThrow(/authentication methods failed/);
    });
  });

  describe('2. server: verifyUserCertAuth on an ssh2 Server', () => {
    it('accepts OpenSSH ssh with a valid certificate (query phase, then signature)', async () => {
      const s = await echoServer();
      const r = await sshWithCert(s.port, alice, 'root', 'hello');
      expect(r.stderr).toBe('');
      expect(r.stdout).toBe('root ran hello\n');
      expect(r.code).toBe(0);
      expect(s.results.map((x) => (x.ok ? `ok needsSignature=${x.needsSignature}` : x.reason))).toEqual(['ok needsSignature=true', 'ok needsSignature=false']);
    });

    it('refuses a certificate from another CA', async () => {
      const s = await echoServer();
      const mallory = await userKey(otherCa, ['root'], 'mallory');
      const r = await sshWithCert(s.port, mallory, 'root', 'hello');
      expect(r.code).toBe(255);
      expect(r.stderr).toMatch(/Permission denied \(publickey\)/);
      // ssh then offers the bare key, which this server never accepts.
      expect(s.results).toEqual([{ ok: false, reason: 'certificate is not signed by the trusted certificate authority' }, PLAIN_KEY_REFUSED]);
    });

    it('refuses an expired certificate', async () => {
      const s = await echoServer();
      const old = await userKey(userCa, ['root'], 'old', { now: new Date(Date.now() - 3 * HOUR), ttlMs: HOUR });
      const r = await sshWithCert(s.port, old, 'root', 'hello');
      expect(r.code).toBe(255);
      // ssh then offers the bare key, which this server never accepts.
      expect(s.results).toEqual([{ ok: false, reason: 'certificate has expired' }, PLAIN_KEY_REFUSED]);
    });

    it('refuses a login that is not a principal', async () => {
      const s = await echoServer();
      const bob = await userKey(userCa, ['bob'], 'bob');
      const r = await sshWithCert(s.port, bob, 'root', 'hello');
      expect(r.code).toBe(255);
      // ssh then offers the bare key, which this server never accepts.
      expect(s.results).toEqual([{ ok: false, reason: 'certificate does not allow "root"' }, PLAIN_KEY_REFUSED]);
    });

    /** An agent that presents alice's valid certificate but signs with `signer`. */
    class ForgingAgent extends BaseAgent<ParsedKey> {
      constructor(private readonly signer: KeyObject) {
        super();
      }
      getIdentities(cb: (err?: Error | null, keys?: ParsedKey[]) => void): void {
        cb(null, [certPublicKey(alice.certBlob, 'alice') as unknown as ParsedKey]);
      }
      sign(_key: ParsedKey, data: Buffer, options: object | SignCallback, cb?: SignCallback): void {
        const done = typeof options === 'function' ? options : cb!;
        done(null, ed25519Sign(data, this.signer));
      }
    }

    it('accepts the hand-made signature of the right key (control for the forgery test)', async () => {
      assertSsh2Patched();
      const s = await echoServer();
      const r = await ssh2Exec({ port: s.port, username: 'root', agent: new ForgingAgent(alice.privateKey) }, 'hi');
      expect(r.stdout).toBe('root ran hi\n');
      expect(s.results.at(-1)).toMatchObject({ ok: true, needsSignature: false });
    });

    it('refuses a forged signature: valid certificate, signed by another key', async () => {
      assertSsh2Patched();
      const s = await echoServer();
      await expect(ssh2Exec({ port: s.port, username: 'root', agent: new ForgingAgent(generateEd25519().privateKey) }, 'hi')).rejects.toThrow(/authentication methods failed/);
      expect(s.results.map((x) => (x.ok ? `ok needsSignature=${x.needsSignature}` : x.reason))).toEqual([
        'ok needsSignature=true',
        'signature does not verify with the certificate key',
      ]);
    });

    it('refuses a signature named with the certificate algorithm, and non-certificate keys', () => {
      const blob = Buffer.from('signed data');
      const sig = ed25519Sign(blob, alice.privateKey);
      const wire = (algo: string, s: Buffer) => Buffer.concat([u32(algo.length), Buffer.from(algo), u32(s.length), s]);
      const ctx = (signature: Buffer) => ({ method: 'publickey', key: { algo: ED25519_CERT, data: alice.certBlob }, signature, blob });
      const check = { userCaBlob: userCa.publicBlob, now: new Date(), principal: 'root' };
      expect(verifyUserCertAuth(ctx(wire('ssh-ed25519', sig)), check)).toMatchObject({ ok: true, needsSignature: false });
      expect(verifyUserCertAuth(ctx(wire(ED25519_CERT, sig)), check)).toEqual({ ok: false, reason: `signature algorithm ${ED25519_CERT} does not match the certificate key (ssh-ed25519)` });
      expect(verifyUserCertAuth(ctx(sig), check)).toMatchObject({ ok: false });
      expect(verifyUserCertAuth({ ...ctx(wire('ssh-ed25519', sig)), blob: Buffer.from('other data') }, check)).toEqual({ ok: false, reason: 'signature does not verify with the certificate key' });
      const plain = { method: 'publickey', key: { algo: 'ssh-ed25519', data: generateEd25519().publicBlob } };
      expect(verifyUserCertAuth(plain, check)).toEqual({ ok: false, reason: 'not a certificate: ssh-ed25519' });
    });
  });

  describe('3. server: agent forwarding back to the client', () => {
    it('ssh -A → ssh2 proxy → forwarded agent lists the certificate and logs into sshd as the user', async () => {
      let listed: string[] = [];
      const proxy = await startCertServer(userCa, [plainHostKey(generateEd25519().privateKey)], (conn, username, command, stream, agentForwarded) => {
        void (async () => {
          if (!agentForwarded) return finish(stream, 'no agent forwarded\n', 2);
          // A raw REQUEST_IDENTITIES on one channel…
          const channel = await openForwardedAgent(conn);
          listed = (await new AgentStream(channel as Duplex).listKeys()).map((k) => k.type);
          channel.destroy();
          // …then the proxy's core chain: the user's own certificate, through their agent, to the node.
          const r = await ssh2Exec({ port: sshd.port, username, agent: createCertAgent(() => openForwardedAgent(conn)) }, command);
          finish(stream, r.stdout, r.code ?? 1);
        })().catch((err: Error) => finish(stream, `proxy error: ${err.message}\n`, 1));
      });
      servers.push(proxy);
      const r = await run('ssh', [
        ...sshBaseArgs(proxy.port, { agent: agent.socket }),
        '-A', '-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null',
        'root@127.0.0.1', 'echo "on the node as $(id -un)"',
      ]);
      expect(r.stderr).toBe('');
      expect(r.stdout).toBe('on the node as root\n');
      expect(r.code).toBe(0);
      expect(listed).toEqual([ED25519_CERT]);
    });

    it('fails cleanly when the client did not forward its agent', async () => {
      let error = '';
      const proxy = await startCertServer(userCa, [plainHostKey(generateEd25519().privateKey)], (conn, _u, _c, stream) => {
        openForwardedAgent(conn).then(
          (ch) => {
            ch.destroy();
            finish(stream, 'opened\n', 0);
          },
          (err: Error) => {
            error = err.message;
            finish(stream, 'refused\n', 3);
          },
        );
      });
      servers.push(proxy);
      const r = await sshWithCert(proxy.port, alice, 'root', 'x');
      expect(r.stdout).toBe('refused\n');
      expect(r.code).toBe(3);
      expect(error).toMatch(/refused the agent channel/);
    });
  });

  describe('4. server: host certificate', () => {
    let hostServer: CertServer;
    let hostPrivate: KeyObject;

    beforeAll(async () => {
      const hostKey = generateEd25519();
      hostPrivate = hostKey.privateKey;
      const hostCert = hostCa.issueHostCert({ publicKey: hostKey.publicBlob, hosts: ['localhost'], ttlMs: HOUR }, new Date());
      hostServer = await startCertServer(userCa, [hostKeyWithCertificate(hostKey.privateKey, hostCert.blob), plainHostKey(hostKey.privateKey)], (conn, username, command, stream) => {
        // A server-initiated re-key signs with the host certificate again (the patched kex runs per exchange).
        if (command === 'rekey') conn.rekey(() => finish(stream, 'rekeyed\n', 0));
        else finish(stream, `${username} ran ${command}\n`, 0);
      });
      servers.push(hostServer);
    });

    function sshStrict(port: number, knownHosts: string, extra: string[] = [], command = 'hello') {
      const file = path.join(work, `known_hosts_${crypto.randomBytes(4).toString('hex')}`);
      fs.writeFileSync(file, knownHosts);
      return run('ssh', [
        ...sshBaseArgs(port),
        '-o', 'StrictHostKeyChecking=yes', '-o', `UserKnownHostsFile=${file}`, '-o', 'AddressFamily=inet',
        '-o', 'IdentitiesOnly=yes', '-i', alice.file, '-o', `CertificateFile=${alice.file}-cert.pub`,
        ...extra, 'root@localhost', command,
      ]);
    }

    it('OpenSSH trusts it through one @cert-authority line, with strict host key checking', async () => {
      const r = await sshStrict(hostServer.port, `@cert-authority localhost ${hostCa.publicKeyLine()}\n`);
      expect(r.stderr).toBe('');
      expect(r.stdout).toBe('root ran hello\n');
    });

    it('survives a server-initiated re-key', async () => {
      const r = await sshStrict(hostServer.port, `@cert-authority localhost ${hostCa.publicKeyLine()}\n`, [], 'rekey');
      expect(r.stderr).toBe('');
      expect(r.stdout).toBe('rekeyed\n');
    });

    it('OpenSSH refuses it under another host CA', async () => {
      const r = await sshStrict(hostServer.port, `@cert-authority localhost ${CertAuthority.generate('host').publicKeyLine()}\n`);
      expect(r.code).toBe(255);
      expect(r.stderr).toMatch(/Host key verification failed/);
    });

    it('refuses a user certificate as a host key, and a certificate for another key', () => {
      expect(() => hostKeyWithCertificate(hostPrivate, alice.certBlob)).toThrow(/host certificate/);
      const other = hostCa.issueHostCert({ publicKey: generateEd25519().publicBlob, hosts: ['localhost'], ttlMs: HOUR }, new Date());
      expect(() => hostKeyWithCertificate(hostPrivate, other.blob)).toThrow(/does not certify this private key/);
    });

    it('runs over a direct-tcpip channel with server.injectSocket (ssh -J through an ssh2 jump server)', async () => {
      const jump = new Server({ hostKeys: [plainHostKey(generateEd25519().privateKey)] }, (conn) => {
        conn.on('authentication', (ctx) => {
          if (ctx.method !== 'publickey') return ctx.reject(['publickey']);
          const v = verifyUserCertAuth(ctx, { userCaBlob: userCa.publicBlob, now: new Date() });
          return v.ok ? ctx.accept() : ctx.reject(['publickey']);
        });
        conn.on('error', () => {});
        conn.on('tcpip', (accept) => {
          const channel = accept();
          // The inner SSH connection ends at hostServer, which presents the host certificate.
          hostServer.server.injectSocket(channel as unknown as net.Socket);
        });
      });
      await new Promise<void>((resolve) => jump.listen(0, '127.0.0.1', resolve));
      try {
        const port = (jump.address() as net.AddressInfo).port;
        // What -J does: ProxyCommand `ssh -W %h:%p JUMP`. The jump host (plain key) is not checked here; the
        // target, reached as localhost:22 inside the channel, must pass strict checking by its host certificate.
        const jumpCmd = `ssh -F /dev/null -p ${port} -o BatchMode=yes -o IdentityAgent=none -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o IdentitiesOnly=yes -i ${alice.file} -o CertificateFile=${alice.file}-cert.pub -o LogLevel=ERROR -W %h:%p root@127.0.0.1`;
        const r = await sshStrict(22, `@cert-authority localhost ${hostCa.publicKeyLine()}\n`, ['-o', `ProxyCommand=${jumpCmd}`]);
        expect(r.stderr).toBe('');
        expect(r.stdout).toBe('root ran hello\n');
      } finally {
        await new Promise<void>((resolve) => jump.close(() => resolve()));
      }
    });
  });
});

function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n);
  return b;
}
