import net from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { serveAgent } from '../../src/lib/agent/agent-server.js';
import { CertAuthority } from '../../src/lib/ca/cert-authority.js';
import { generateEd25519 } from '../../src/lib/ca/keys.js';
import { run, tmpDir } from '../helpers/proc.js';
import { sshBaseArgs, startSshd, type TestSshd } from '../helpers/sshd.js';

/** tsh's in-process agent, checked with the real ssh-add and a real ssh login through it. */
describe('in-process agent', () => {
  const ca = CertAuthority.generate('user');
  const key = generateEd25519();
  const cert = ca.issueUserCert({ publicKey: key.publicBlob, user: 'joe', logins: ['root'], ttlMs: 3_600_000 }, new Date());
  const socket = path.join(tmpDir('tollgate-agent-srv-'), 'agent.sock');
  let server: net.Server;
  let sshd: TestSshd;

  beforeAll(async () => {
    server = net.createServer((c) => serveAgent(c, [{ privateKey: key.privateKey, certBlob: cert.blob, comment: 'tollgate:joe' }]));
    await new Promise<void>((r) => server.listen(socket, r));
    sshd = await startSshd({ trustedUserCaKeys: `${ca.publicKeyLine()}\n` });
  });
  afterAll(async () => {
    await sshd?.stop();
    await new Promise((r) => server.close(r));
  });

  it('ssh-add -L lists the certificate and the key', async () => {
    const r = await run('ssh-add', ['-L'], { env: { ...process.env, SSH_AUTH_SOCK: socket } });
    const lines = r.stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^ssh-ed25519-cert-v01@openssh\.com AAAA\S+ tollgate:joe$/);
    expect(lines[1]).toMatch(/^ssh-ed25519 AAAA\S+ tollgate:joe$/);
  });

  it('OpenSSH logs in with a signature made by the in-process agent', async () => {
    const r = await run('ssh', [...sshBaseArgs(sshd.port, { agent: socket }), '-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null', 'root@127.0.0.1', 'echo via-agent']);
    expect(r.stderr).toBe('');
    expect(r.stdout.trim()).toBe('via-agent');
  });
});
