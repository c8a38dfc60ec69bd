import { defaultKeysFile } from '../../src/lib/config/index.js';
import crypto, { type KeyObject } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import ssh2 from 'ssh2';
import type { ParsedKey, SignCallback } from 'ssh2';
import { fileKeySource, unsealPrivateKey } from '../../src/lib/auth/sealed-keys.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AgentClient } from '../../src/lib/agent/agent-client.js';
import { CertAuthority } from '../../src/lib/ca/cert-authority.js';
import { parseCertificate } from '../../src/lib/ca/certificate.js';
import { generateEd25519, parsePrivateKeyText, parsePublicKeyLine, publicKeyLine } from '../../src/lib/ca/keys.js';
import { NEEDS_AGENT } from '../../src/lib/proxy-protocol.js';
import { certPublicKey, assertSsh2Patched } from '../../src/lib/ssh/index.js';
import { TestAgent } from '../helpers/agent.js';
import { httpsRequest, postJson } from '../helpers/https.js';
import { castEvents, sessions, startCluster, type Cluster } from '../helpers/cluster.js';
import { run, tmpDir } from '../helpers/proc.js';

/** "The recording proxy and tsh ssh": real sshd as the node, real ssh/scp/ssh-agent as clients. */
describe('recording proxy', () => {
  let c: Cluster;
  let work: string;
  let sshConfig: string;

  /** A config for plain OpenSSH through the proxy: strict host checking with only the host CA. */
  function writeSshConfig(agentSocket: string, name = 'ssh_config'): string {
    const kh = path.join(work, `${name}.known_hosts`);
    const file = path.join(work, name);
    return (async () => {
      const hostCa = (await c.daemon.tctl(['auth', 'export', '--type=host', '--host-pattern=*'])).stdout;
      fs.writeFileSync(kh, hostCa);
      fs.writeFileSync(
        file,
        ['Host *', '  StrictHostKeyChecking yes', `  UserKnownHostsFile ${kh}`, '  GlobalKnownHostsFile /dev/null', '  BatchMode yes', `  IdentityAgent ${agentSocket}`, '  LogLevel ERROR', '  ConnectTimeout 10', ''].join('\n'),
      );
      return file;
    })() as unknown as string;
  }

  const jump = (config: string, args: string[], extra: string[] = []) => run('ssh', ['-F', config, ...extra, '-J', `joe@127.0.0.1:${c.sshPort}`, '-p', String(c.sshd.port), ...args], { timeoutMs: 60_000 });
  const acceptedOnNode = () => (c.sshd.process.output.match(/Accepted publickey/g) ?? []).length;

  beforeAll(async () => {
    c = await startCluster();
    work = tmpDir('tollgate-proxy-test-');
    sshConfig = await writeSshConfig(c.agent.socket);
  });
  afterAll(async () => {
    await c?.stop();
    fs.rmSync(work, { recursive: true, force: true });
  });

  it('tsh ssh runs a command, prints its output and exits with its code; the session is recorded', async () => {
    const r = await c.tsh(['ssh', `--port=${c.sshd.port}`, 'root@127.0.0.1', 'echo hello; exit 3']);
    expect(r.stdout).toBe('hello\n');
    expect(r.code).toBe(3);
    const s = (await sessions(c.daemon)).find((x) => x.command === 'echo hello; exit 3')!;
    expect(s).toMatchObject({ user: 'joe', login: 'root', node: `127.0.0.1:${c.sshd.port}`, kind: 'exec', exitStatus: 3, bytesOut: 6, endReason: 'exit' });
    expect(s.sha256Out).toBe(crypto.createHash('sha256').update('hello\n').digest('hex'));
    const cast = castEvents(c.daemon, s.id);
    expect(cast.header.version).toBe(2);
    expect(cast.events.filter((e) => e[1] === 'o').map((e) => e[2]).join('')).toBe('hello\n');
    const events = JSON.parse((await c.daemon.tctl(['events', 'ls', '--user=joe', '--format=json', '--limit=20'])).stdout) as Array<{ event: string; sid?: string }>;
    // (recording.checkpoint events carry the sid too: the recording's anchors, issue 16.)
    expect(events.filter((e) => e.sid === s.id && e.event !== 'recording.checkpoint').map((e) => e.event).sort()).toEqual(['exec', 'session.end', 'session.start']);
  });

  it('tsh play replays a recording (text, json, timed without a terminal); tctl sessions ls lists it', async () => {
    const s = (await sessions(c.daemon)).find((x) => x.command === 'echo hello; exit 3')!;
    const dd = ['--data-dir', c.daemon.dataDir];
    const text = await c.tsh(['play', s.id, '--format=text', ...dd]);
    expect(text.code, text.stderr).toBe(0);
    expect(text.stdout).toBe('hello\n');
    const json = JSON.parse((await c.tsh(['play', s.id, '--format=json', ...dd])).stdout) as { header: { version: number }; events: [number, string, string][] };
    expect(json.header.version).toBe(2);
    expect(json.events.map((e) => e[2]).join('')).toBe('hello\n');
    const timed = await c.tsh(['play', s.id, ...dd]);
    expect(timed.code).toBe(0);
    expect(timed.stdout).toBe('hello\n');
    const file = path.join(c.daemon.dataDir, 'recordings', `${s.id}.cast`);
    expect((await c.tsh(['play', file, '--format=text'])).stdout).toBe('hello\n');
    const missing = await c.tsh(['play', '00000000-0000-0000-0000-000000000000', ...dd]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/^ERROR: no recording with id 00000000-0000-0000-0000-000000000000 \(see tsh recordings ls\)/);
    const bad = await c.tsh(['play', s.id, '--speed=100', ...dd]);
    expect(bad.stderr).toMatch(/--speed 100 is out of range/);
    const ls = JSON.parse((await c.daemon.tctl(['sessions', 'ls', '--format=json'])).stdout) as Array<Record<string, unknown>>;
    expect(ls.find((x) => x.id === s.id)).toMatchObject({ user: 'joe', login: 'root', kind: 'exec', exit_status: 3, bytes_out: 6, command: 'echo hello; exit 3' });
    expect((await c.daemon.tctl(['sessions', 'ls'])).stdout).toMatch(new RegExp(`^${s.id}\\s+joe\\s+root\\s+127\\.0\\.0\\.1:\\d+\\s+\\S+\\s+\\S+\\s+3\\s+exec\\s+6 B$`, 'm'));
  });

  it('recordings through the proxy API: tsh recordings ls and tsh play; access sees its own, auditor all (refusals audited)', async () => {
    const s = (await sessions(c.daemon)).find((x) => x.command === 'echo hello; exit 3')!;
    const mine = JSON.parse((await c.tsh(['recordings', 'ls', '--format=json'])).stdout) as Array<{ id: string; user: string }>;
    expect(mine.some((x) => x.id === s.id)).toBe(true);
    expect(mine.every((x) => x.user === 'joe')).toBe(true);
    const remote = await c.tsh(['play', s.id, '--format=text']);
    expect(remote.code, remote.stderr).toBe(0);
    expect(remote.stdout).toBe('hello\n');

    const tokenFor = async (name: string, roles: string) => {
      const inv = JSON.parse((await c.daemon.tctl(['users', 'add', name, 'root', `--roles=${roles}`, '--format=json'])).stdout) as { token: string };
      await postJson(c.daemon.webPort, `/webapi/invites/${inv.token}`, { password: `${name} has a long password` });
      const key = publicKeyLine(generateEd25519().publicBlob);
      const r = await postJson(c.daemon.webPort, '/webapi/ssh/certs', { user: name, password: `${name} has a long password`, pub_key: key });
      return (r.json as { token: string }).token;
    };
    const get = (token: string, p: string) => httpsRequest(c.daemon.webPort, 'GET', p, undefined, { authorization: `Bearer ${token}` });
    const eve = await tokenFor('eve', 'access');
    const aud = await tokenFor('aud', 'access,auditor');
    expect((await get(eve, `/webapi/sessions/${s.id}/stream`)).status).toBe(403);
    expect((await get(eve, `/webapi/sessions?user=joe`)).status).toBe(403);
    expect((await get(eve, '/webapi/sessions')).json).toEqual([]);
    const denied = JSON.parse((await c.daemon.tctl(['events', 'ls', '--type=session.access_denied', '--format=json'])).stdout) as Array<{ user: string }>;
    expect(denied.filter((e) => e.user === 'eve').length).toBeGreaterThanOrEqual(2);
    const all = (await get(aud, '/webapi/sessions?user=joe')).json as Array<{ id: string }>;
    expect(all.some((x) => x.id === s.id)).toBe(true);
    const stream = await get(aud, `/webapi/sessions/${s.id}/stream`);
    expect(stream.status).toBe(200);
    expect(stream.text).toBe(fs.readFileSync(path.join(c.daemon.dataDir, 'recordings', `${s.id}.cast`), 'utf8'));
    // asciinema itself prints the same bytes from the downloaded file (under a pty, as it needs
    // /dev/tty; -onlcr so the pty does not turn \n into \r\n).
    const downloaded = path.join(work, `${s.id}.cast`);
    fs.writeFileSync(downloaded, stream.text);
    const cat = await run('script', ['-qec', `stty -onlcr; asciinema cat ${downloaded}`, '/dev/null'], { timeoutMs: 30_000 });
    expect(cat.code, cat.stderr).toBe(0);
    expect(cat.stdout).toBe(remote.stdout);
    expect((await httpsRequest(c.daemon.webPort, 'GET', '/webapi/sessions')).status).toBe(403);
  });

  it('every finished recording has a detached SSHSIG signature that stock ssh-keygen -Y verify checks', async () => {
    const s = (await sessions(c.daemon)).find((x) => x.command === 'echo hello; exit 3')!;
    const line = (await c.daemon.tctl(['auth', 'export', '--type=recording'])).stdout;
    expect(line).toMatch(/^tollgate-recording@example\.test namespaces="tollgate-recording,tollgate-recording-interrupted" ssh-ed25519 AAAA\S+\n$/);
    const signers = path.join(work, 'allowed_signers');
    fs.writeFileSync(signers, line);
    const file = path.join(c.daemon.dataDir, 'recordings', `${s.id}.cast`);
    const verify = (f: string) => run('bash', ['-c', `ssh-keygen -Y verify -f ${signers} -I tollgate-recording@example.test -n tollgate-recording -s ${file}.sig < ${f}`]);
    const good = await verify(file);
    expect(good.code, good.stderr).toBe(0);
    expect(good.stdout).toMatch(/Good "tollgate-recording" signature for tollgate-recording@example\.test/);
    const altered = path.join(work, 'altered.cast');
    fs.writeFileSync(altered, fs.readFileSync(file, 'utf8').replace('hello', 'hellp'));
    const bad = await verify(altered);
    expect(bad.code).not.toBe(0);
    expect(fs.readFileSync(file, 'utf8').split('\n')[0]).toMatch(/^\{"version":2,/); // still plain asciicast v2
  });

  it('a command killed by a signal exits 255 as with ssh, and the index keeps the signal', async () => {
    const r = await c.tsh(['ssh', `--port=${c.sshd.port}`, 'root@127.0.0.1', 'kill -TERM $$']);
    expect(r.code).toBe(255);
    const s = (await sessions(c.daemon)).find((x) => x.command === 'kill -TERM $$')!;
    expect(s.exitSignal).toMatch(/TERM/);
    const j = await jump(sshConfig, ['root@127.0.0.1', 'kill -TERM $$'], ['-A']);
    expect(j.code).toBe(255);
  });

  it("Teleport's global flags first: tsh --proxy=HOST ssh NODE", async () => {
    const web = `127.0.0.1:${c.daemon.webPort}`;
    const r = await c.tsh([`--proxy=${web}`, 'ssh', `--port=${c.sshd.port}`, 'root@127.0.0.1', 'echo global-flags']);
    expect(r.stdout).toBe('global-flags\n');
    const other = await c.tsh(['--proxy=elsewhere.example.com', 'ssh', 'root@127.0.0.1', 'true']);
    expect(other.code).toBe(1);
    expect(other.stderr).toMatch(/^ERROR: not logged in to elsewhere\.example\.com/);
  });

  it('plain OpenSSH: ssh -A -J with strict host checking and only the host CA; recorded', async () => {
    const r = await jump(sshConfig, ['root@127.0.0.1', 'echo via-jump; exit 4'], ['-A']);
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe('via-jump\n');
    expect(r.code).toBe(4);
    const s = (await sessions(c.daemon)).find((x) => x.command === 'echo via-jump; exit 4')!;
    expect(s).toMatchObject({ user: 'joe', login: 'root', exitStatus: 4 });
    expect(castEvents(c.daemon, s.id).events.map((e) => e[2]).join('')).toBe('via-jump\n');
  });

  it('without agent forwarding: the exact line, a non-zero exit and a session.rejected event', async () => {
    const before = acceptedOnNode();
    const r = await jump(sshConfig, ['root@127.0.0.1', 'echo never'], ['-o', 'ForwardAgent=no']);
    expect(r.code).not.toBe(0);
    expect(r.stdout).toBe('');
    expect(r.stderr.trim()).toBe(NEEDS_AGENT);
    expect(acceptedOnNode()).toBe(before);
    const ev = JSON.parse((await c.daemon.tctl(['events', 'ls', '--type=session.rejected', '--format=json'])).stdout) as Array<{ reason: string }>;
    expect(ev[0]!.reason).toBe('no agent forwarding');
  });

  describe('refusals: audited, never reach the node', () => {
    const authEvents = async () => JSON.parse((await c.daemon.tctl(['events', 'ls', '--type=auth', '--format=json', '--limit=200'])).stdout) as Array<{ reason: string; user: string }>;

    async function agentWith(ca: CertAuthority, user: string, logins: string[], now: Date): Promise<TestAgent> {
      const agent = await TestAgent.start();
      const key = generateEd25519();
      const cert = ca.issueUserCert({ publicKey: key.publicBlob, user, logins, ttlMs: 3_600_000 }, now);
      await new AgentClient(agent.socket).addCertificate(key.privateKey, cert.blob, user);
      return agent;
    }

    it('a login that is not a principal', async () => {
      const before = acceptedOnNode();
      const r = await jump(sshConfig, ['daemon@127.0.0.1', 'true'], ['-A']);
      expect(r.code).toBe(255);
      expect(r.stderr).toMatch(/Permission denied/);
      expect((await authEvents()).some((e) => e.reason === 'certificate does not allow "daemon"')).toBe(true);
      const tsh = await c.tsh(['ssh', `--port=${c.sshd.port}`, 'daemon@127.0.0.1', 'true']);
      expect(tsh.code).toBe(1);
      expect(tsh.stderr).toMatch(/^ERROR: you may not log in as "daemon"/);
      expect(acceptedOnNode()).toBe(before);
    });

    it('an expired certificate, another CA, a deleted user', async () => {
      const rec = await import('../../src/lib/store/sqlite.js').then((m) => m.createSqliteStore(path.join(c.daemon.dataDir, 'tollgate.db')));
      const caRec = (await rec.getCertAuthority('user'))!;
      await rec.close();
      const userCa = CertAuthority.fromPem('user', unsealPrivateKey(fileKeySource(defaultKeysFile(c.daemon.dataDir)).read()!, 'user', caRec.privateKeyPem, 'the key file'), Buffer.from(caRec.publicKey, 'base64'));
      const before = acceptedOnNode();
      const cases: Array<[TestAgent, string, RegExp]> = [
        [await agentWith(userCa, 'joe', ['root'], new Date(Date.now() - 3 * 3_600_000)), 'joe', /certificate has expired/],
        [await agentWith(CertAuthority.generate('user'), 'joe', ['root'], new Date()), 'joe', /not signed by the trusted certificate authority/],
      ];
      await c.daemon.tctl(['users', 'add', 'gone', 'root']);
      cases.push([await agentWith(userCa, 'gone', ['root'], new Date()), 'gone', /user gone does not exist/]);
      await c.daemon.tctl(['users', 'rm', 'gone']);
      for (const [agent, user, reason] of cases) {
        try {
          const cfg = await writeSshConfig(agent.socket, `cfg-${Math.random().toString(36).slice(2)}`);
          const r = await run('ssh', ['-F', cfg, '-A', '-J', `${user}@127.0.0.1:${c.sshPort}`, '-p', String(c.sshd.port), 'root@127.0.0.1', 'true'], { timeoutMs: 30_000 });
          expect(r.code).toBe(255);
          expect((await authEvents()).some((e) => reason.test(e.reason)), String(reason)).toBe(true);
        } finally {
          await agent.stop();
        }
      }
      expect(acceptedOnNode()).toBe(before);
    });

    it('a valid certificate with a signature made by a different key (forged)', async () => {
      assertSsh2Patched();
      const certLine = fs.readFileSync(path.join(c.home, 'keys', '127.0.0.1', 'joe-cert.pub'), 'utf8');
      const certBlob = parsePublicKeyLine(certLine).blob;
      class ForgingAgent extends ssh2.BaseAgent<ParsedKey> {
        constructor(private readonly signer: KeyObject) {
          super();
        }
        getIdentities(cb: (err?: Error | null, keys?: ParsedKey[]) => void): void {
          cb(null, [certPublicKey(certBlob, 'joe') as unknown as ParsedKey]);
        }
        sign(_key: ParsedKey, data: Buffer, options: object | SignCallback, cb?: SignCallback): void {
          (typeof options === 'function' ? options : cb!)(null, crypto.sign(null, data, this.signer));
        }
      }
      const attempt = (signer: KeyObject) =>
        new Promise<string>((resolve) => {
          const client = new ssh2.Client();
          client.on('ready', () => {
            client.end();
            resolve('accepted');
          });
          client.on('error', (err) => resolve(err.message));
          client.connect({ host: '127.0.0.1', port: c.sshPort, username: 'joe', agent: new ForgingAgent(signer), hostVerifier: () => true, readyTimeout: 10_000 });
        });
      const realKey = await parsePrivateKeyText(fs.readFileSync(path.join(c.home, 'keys', '127.0.0.1', 'joe'), 'utf8'));
      expect(await attempt(realKey)).toBe('accepted'); // control: the same path with the right key works
      expect(await attempt(generateEd25519().privateKey)).toMatch(/authentication methods failed/);
      expect((await authEvents()).some((e) => e.reason === 'signature does not verify with the certificate key')).toBe(true);
      void parseCertificate;
    });
  });

  it('scp a 64 MiB file up and back through the proxy; checksums match (sftp, recorded as file transfer)', async () => {
    const src = path.join(work, 'up.bin');
    fs.writeFileSync(src, crypto.randomBytes(64 * 1024 * 1024));
    const remote = `/tmp/tollgate-scp-${process.pid}.bin`;
    const back = path.join(work, 'back.bin');
    const scp = (args: string[]) => run('scp', ['-F', sshConfig, '-A', '-q', '-J', `joe@127.0.0.1:${c.sshPort}`, '-P', String(c.sshd.port), ...args], { timeoutMs: 120_000 });
    try {
      const up = await scp([src, `root@127.0.0.1:${remote}`]);
      expect(up.code, up.stderr).toBe(0);
      const down = await scp([`root@127.0.0.1:${remote}`, back]);
      expect(down.code, down.stderr).toBe(0);
      const sha = (f: string) => crypto.createHash('sha256').update(fs.readFileSync(f)).digest('hex');
      expect(sha(back)).toBe(sha(src));
      expect((await sessions(c.daemon)).filter((s) => s.kind === 'sftp').length).toBeGreaterThanOrEqual(2);
    } finally {
      fs.rmSync(remote, { force: true });
    }
  }, 180_000);

  it('256 MiB from the node through tsh ssh arrives intact', async () => {
    const remote = `/tmp/tollgate-stream-${process.pid}.bin`;
    fs.writeFileSync(remote, crypto.randomBytes(256 * 1024 * 1024));
    try {
      const expected = crypto.createHash('sha256').update(fs.readFileSync(remote)).digest('hex');
      const r = await run('bash', ['-c', `node bin/tsh ssh --port=${c.sshd.port} root@127.0.0.1 'cat ${remote}' | sha256sum`], { env: c.env, cwd: path.resolve(__dirname, '../..'), timeoutMs: 170_000 });
      expect(r.stdout.split(' ')[0]).toBe(expected);
      const s = (await sessions(c.daemon)).find((x) => x.command === `cat ${remote}`)!;
      expect(s.bytesOut).toBe(256 * 1024 * 1024);
      expect(s.sha256Out).toBe(expected);
    } finally {
      fs.rmSync(remote, { force: true });
    }
  }, 180_000);

  it('20 concurrent sessions each get a complete, separate recording', async () => {
    const runs = await Promise.all(
      Array.from({ length: 20 }, (_, i) => c.tsh(['ssh', `--port=${c.sshd.port}`, 'root@127.0.0.1', `for j in 1 2 3 4 5; do echo session-${i}-line-$j; done`], { timeoutMs: 120_000 })),
    );
    // Only our lines: a node's own login scripts may print things of their own under load.
    const ours = (text: string) => text.split(/(?<=\n)/).filter((l) => l.startsWith('session-')).join('');
    runs.forEach((r, i) => {
      expect(r.code, r.stderr).toBe(0);
      expect(ours(r.stdout)).toBe([1, 2, 3, 4, 5].map((j) => `session-${i}-line-${j}\n`).join(''));
    });
    const all = await sessions(c.daemon);
    for (let i = 0; i < 20; i++) {
      const s = all.find((x) => x.command?.includes(`session-${i}-line`))!;
      expect(s.exitStatus, JSON.stringify(s)).toBe(0);
      expect(ours(castEvents(c.daemon, s.id).events.map((e) => e[2]).join(''))).toBe([1, 2, 3, 4, 5].map((j) => `session-${i}-line-${j}\n`).join(''));
    }
  }, 150_000);
});
