import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { CertAuthority, certificateLine, generateEd25519, parsePublicKeyLine, privateKeyToOpenSSH } from '../../src/lib/ca/index.js';
import { TollgateError } from '../../src/lib/errors.js';
import { joinOpenSshNode, type JoinOptions, type NodeJoinGrant, type NodeJoinRequest } from '../../src/lib/openssh-node/index.js';
import { freePort, run, spawnBackground, tmpDir } from '../helpers/proc.js';
import { baseSshdConfig, sshBaseArgs } from '../helpers/sshd.js';

/*
 * Issue 15's `teleport join openssh`, node side, against the real /usr/sbin/sshd with configs the
 * test owns: drop-in and marked-block modes, idempotency, a failed check restoring the config, a
 * conflicting TrustedUserCAKeys, a non-root run, and a real login through the result.
 */
describe('joinOpenSshNode', () => {
  const openSshCa = CertAuthority.generate('user');
  const hostCa = CertAuthority.generate('host');
  const dirs: string[] = [];

  /** The proxy's side, in miniature: certifies the host key for the node's names. */
  function fakeRedeem() {
    return vi.fn(async (req: NodeJoinRequest): Promise<NodeJoinGrant> => {
      const host = req.address.replace(/:\d+$/, '');
      const cert = hostCa.issueHostCert({ publicKey: parsePublicKeyLine(req.hostPublicKey).blob, hosts: [req.nodeName, host, ...req.hostnames], ttlMs: 30 * 24 * 3600_000 }, new Date());
      return { clusterName: 'test-cluster', openSshCa: `${openSshCa.publicKeyLine()}\n`, hostCertificate: certificateLine(cert.blob) };
    });
  }
  const mustNotRedeem = vi.fn(async (): Promise<NodeJoinGrant> => {
    throw new Error('redeem must not be called');
  });

  /** A node: its own sshd_config (optionally with an Include of DIR/sshd_config.d/*.conf) and a data dir. */
  function node(opts: { include?: boolean; head?: string[]; tail?: string[]; port?: number } = {}) {
    const dir = tmpDir('tollgate-join-');
    dirs.push(dir);
    fs.mkdirSync(path.join(dir, 'home'));
    const config = path.join(dir, 'sshd_config');
    const lines = [
      ...(opts.head ?? []),
      ...(opts.include ? [`Include ${dir}/sshd_config.d/*.conf`] : []),
      ...baseSshdConfig({ port: opts.port ?? 2222, home: path.join(dir, 'home') }),
      ...(opts.tail ?? []),
    ];
    if (opts.include) fs.mkdirSync(path.join(dir, 'sshd_config.d'));
    fs.writeFileSync(config, `${lines.join('\n')}\n`, { mode: 0o644 });
    const options: JoinOptions = {
      token: 'tok-1',
      dataDir: path.join(dir, 'data'),
      sshdConfig: config,
      nodeName: 'node1',
      address: `127.0.0.1:${opts.port ?? 2222}`,
      labels: { env: 'test' },
      proxy: 'proxy.example.com:3080',
      restartSshd: false,
      hostnames: ['node1.local'],
    };
    return { dir, config, options, data: options.dataDir };
  }

  /** Every file under the node dir with its bytes and mtime, for "nothing changed" checks. */
  function snapshot(dir: string): Record<string, string> {
    const out: Record<string, string> = {};
    const walk = (d: string) => {
      for (const e of fs.readdirSync(d, { withFileTypes: true })) {
        const p = path.join(d, e.name);
        if (e.isDirectory()) walk(p);
        else out[p] = `${fs.statSync(p).mtimeMs} ${fs.statSync(p).mode.toString(8)} ${fs.readFileSync(p, 'base64')}`;
      }
    };
    walk(dir);
    return out;
  }

  beforeAll(() => fs.mkdirSync('/run/sshd', { recursive: true, mode: 0o755 }));
  afterAll(() => {
    for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
  });

  it('writes a drop-in when the config includes sshd_config.d, with 0600 files in a 0700 data dir', async () => {
    const n = node({ include: true });
    const redeem = fakeRedeem();
    const report = await joinOpenSshNode(n.options, redeem);
    expect(report.changed).toBe(true);
    expect(redeem).toHaveBeenCalledTimes(1);
    const req = redeem.mock.calls[0]![0];
    expect(req).toMatchObject({ token: 'tok-1', nodeName: 'node1', address: '127.0.0.1:2222', labels: { env: 'test' }, hostnames: ['node1.local'] });
    expect(req.hostPublicKey).toMatch(/^ssh-ed25519 AAAA/);
    const dropIn = path.join(n.dir, 'sshd_config.d', '10-tollgate.conf');
    expect(report.steps).toContain(`sshd_config: added a drop-in ${dropIn}`);
    expect(report.steps).toContain('sshd -t: ok');
    expect(fs.statSync(n.data).mode & 0o777).toBe(0o700);
    for (const f of ['openssh_ca.pub', 'ssh_host_ed25519_key', 'ssh_host_ed25519_key.pub', 'ssh_host_ed25519_key-cert.pub', 'state.json']) {
      expect(fs.statSync(path.join(n.data, f)).mode & 0o777, f).toBe(0o600);
    }
    expect(fs.readFileSync(path.join(n.data, 'openssh_ca.pub'), 'utf8')).toBe(`${openSshCa.publicKeyLine()}\n`);
    const text = fs.readFileSync(dropIn, 'utf8');
    expect(text).toContain(`TrustedUserCAKeys ${n.data}/openssh_ca.pub`);
    expect(text).toContain(`HostKey ${n.data}/ssh_host_ed25519_key\n`);
    expect(text).toContain(`HostCertificate ${n.data}/ssh_host_ed25519_key-cert.pub`);
    // The config had no HostKey: sshd's default keys stay, before ours.
    expect(text.indexOf('HostKey /etc/ssh/ssh_host_ed25519_key')).toBeLessThan(text.indexOf(`HostKey ${n.data}`));
    expect(fs.readFileSync(n.config, 'utf8')).not.toContain('BEGIN tollgate');
    const state = JSON.parse(fs.readFileSync(path.join(n.data, 'state.json'), 'utf8'));
    expect(state).toMatchObject({ nodeName: 'node1', address: '127.0.0.1:2222', labels: { env: 'test' }, proxy: 'proxy.example.com:3080', clusterName: 'test-cluster' });
    expect((await run('/usr/sbin/sshd', ['-t', '-f', n.config])).code).toBe(0);
    const keygen = await run('ssh-keygen', ['-L', '-f', path.join(n.data, 'ssh_host_ed25519_key-cert.pub')]);
    expect(keygen.stdout).toContain('host certificate');
  });

  it('a second run changes nothing and needs no token: files, config and mtimes identical', async () => {
    for (const include of [true, false]) {
      const n = node({ include });
      await joinOpenSshNode(n.options, fakeRedeem());
      const before = snapshot(n.dir);
      const report = await joinOpenSshNode({ ...n.options, token: '' }, mustNotRedeem);
      expect(report).toEqual({ changed: false, steps: ['nothing changed: already joined as node1'] });
      expect(mustNotRedeem).not.toHaveBeenCalled();
      expect(snapshot(n.dir)).toEqual(before);
    }
  });

  it('appends one marked block before the first Match, and replaces it in place on a re-join', async () => {
    const n = node({ tail: ['Match User nobody', '  X11Forwarding no'] });
    const report = await joinOpenSshNode(n.options, fakeRedeem());
    expect(report.steps).toContain(`sshd_config: added the tollgate block to ${n.config}`);
    const text = fs.readFileSync(n.config, 'utf8');
    expect(text.match(/# BEGIN tollgate/g)).toHaveLength(1);
    expect(text.indexOf('# END tollgate')).toBeLessThan(text.indexOf('Match User nobody'));
    expect(text).toMatch(/X11Forwarding no\n$/);
    const hostKey = fs.readFileSync(path.join(n.data, 'ssh_host_ed25519_key'));
    // New labels: a new token is redeemed; the block and the host key stay as they were.
    const redeem = fakeRedeem();
    const again = await joinOpenSshNode({ ...n.options, token: 'tok-2', labels: { env: 'prod' } }, redeem);
    expect(redeem).toHaveBeenCalledTimes(1);
    expect(again.steps).toContain(`kept the existing host key ${n.data}/ssh_host_ed25519_key`);
    expect(fs.readFileSync(n.config, 'utf8')).toBe(text);
    expect(fs.readFileSync(path.join(n.data, 'ssh_host_ed25519_key'))).toEqual(hostKey);
  });

  it('a config sshd rejects is restored byte for byte; after the fix a re-run needs no new token', async () => {
    const n = node({ include: true, tail: ['NoSuchOption yes'] });
    const before = fs.readFileSync(n.config);
    const err = await joinOpenSshNode(n.options, fakeRedeem()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TollgateError);
    expect((err as TollgateError).message).toContain('Bad configuration option: NoSuchOption');
    expect((err as TollgateError).hint).toContain('previous config is back');
    expect(fs.readFileSync(n.config)).toEqual(before);
    expect(fs.existsSync(path.join(n.dir, 'sshd_config.d', '10-tollgate.conf'))).toBe(false);
    fs.writeFileSync(n.config, before.toString().replace('NoSuchOption yes\n', ''));
    const report = await joinOpenSshNode({ ...n.options, token: '' }, mustNotRedeem);
    expect(report.changed).toBe(true);
    expect(mustNotRedeem).not.toHaveBeenCalled();
  });

  it('refuses when an earlier TrustedUserCAKeys would win, naming it, and leaves the config alone', async () => {
    const n = node({ head: ['TrustedUserCAKeys /etc/ssh/other_ca.pub'] });
    const before = fs.readFileSync(n.config);
    const err = await joinOpenSshNode(n.options, fakeRedeem()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TollgateError);
    expect((err as TollgateError).kind).toBe('conflict');
    expect((err as TollgateError).message).toContain(`${n.config} line 1: TrustedUserCAKeys /etc/ssh/other_ca.pub`);
    expect((err as TollgateError).hint).toMatch(/remove or comment out that line/);
    expect(fs.readFileSync(n.config)).toEqual(before);
  });

  it('an earlier drop-in setting TrustedUserCAKeys is named in the refusal; ours is removed again', async () => {
    const n = node({ include: true });
    fs.writeFileSync(path.join(n.dir, 'sshd_config.d', '05-site.conf'), 'TrustedUserCAKeys /etc/ssh/site_ca.pub\n');
    const err = await joinOpenSshNode(n.options, fakeRedeem()).catch((e: unknown) => e);
    expect((err as TollgateError).kind).toBe('conflict');
    expect((err as TollgateError).message).toContain(`05-site.conf line 1: TrustedUserCAKeys /etc/ssh/site_ca.pub`);
    expect(fs.existsSync(path.join(n.dir, 'sshd_config.d', '10-tollgate.conf'))).toBe(false);
  });

  it('a host certificate expiring within 7 days is renewed with a new token, keeping the host key', async () => {
    const n = node({ include: true });
    await joinOpenSshNode(n.options, fakeRedeem());
    const pub = fs.readFileSync(path.join(n.data, 'ssh_host_ed25519_key.pub'), 'utf8');
    const later = new Date(Date.now() + 25 * 24 * 3600_000);
    const err = await joinOpenSshNode({ ...n.options, token: '', now: () => later }, mustNotRedeem).catch((e: unknown) => e);
    expect((err as TollgateError).hint).toContain('tctl tokens add --type=node');
    const redeem = fakeRedeem();
    const report = await joinOpenSshNode({ ...n.options, token: 'tok-2', now: () => later }, redeem);
    expect(redeem).toHaveBeenCalledTimes(1);
    expect(redeem.mock.calls[0]![0].hostPublicKey).toBe(pub.trim().split(' ').slice(0, 2).join(' '));
    expect(report.steps).toContain(`kept the existing host key ${n.data}/ssh_host_ed25519_key`);
    expect(report.steps).toContain(`wrote ${n.data}/ssh_host_ed25519_key-cert.pub`);
  });

  it('refuses a grant whose host certificate certifies another key, before touching the sshd config', async () => {
    const n = node({ include: true });
    const before = fs.readFileSync(n.config);
    const stranger = generateEd25519();
    const bad = async (): Promise<NodeJoinGrant> => ({
      clusterName: 'c',
      openSshCa: openSshCa.publicKeyLine(),
      hostCertificate: certificateLine(hostCa.issueHostCert({ publicKey: stranger.publicBlob, hosts: ['node1'], ttlMs: 3600_000 }, new Date()).blob),
    });
    const err = await joinOpenSshNode(n.options, bad).catch((e: unknown) => e);
    expect((err as TollgateError).message).toContain("certifies another key");
    expect(fs.readFileSync(n.config)).toEqual(before);
    expect(fs.readdirSync(path.join(n.dir, 'sshd_config.d'))).toEqual([]);
  });

  it('reloads sshd with the given command only when something changed', async () => {
    const n = node({ include: true });
    const marker = path.join(n.dir, 'reloaded');
    const o = { ...n.options, restartSshd: true, restartCommand: ['touch', marker] };
    const report = await joinOpenSshNode(o, fakeRedeem());
    expect(report.steps).toContain(`reloaded sshd (touch ${marker})`);
    fs.rmSync(marker);
    expect((await joinOpenSshNode(o, mustNotRedeem)).changed).toBe(false);
    expect(fs.existsSync(marker)).toBe(false);
  });

  it('run as a non-root user against root-owned paths: access denied, with a hint to run as root', async () => {
    const n = node({ include: true });
    fs.chmodSync(n.dir, 0o755);
    process.seteuid!(65534);
    let err: unknown;
    try {
      err = await joinOpenSshNode(n.options, fakeRedeem()).catch((e: unknown) => e);
    } finally {
      process.seteuid!(0);
    }
    expect(err).toBeInstanceOf(TollgateError);
    expect((err as TollgateError).kind).toBe('access-denied');
    expect((err as TollgateError).message).toContain('permission denied');
    expect((err as TollgateError).hint).toContain('as root');
  });

  it('end to end: the joined sshd admits an OpenSSH CA user certificate and presents the host certificate', async () => {
    const port = await freePort();
    const n = node({ include: true, port });
    await joinOpenSshNode(n.options, fakeRedeem());
    const sshd = spawnBackground('/usr/sbin/sshd', ['-D', '-e', '-f', n.config]);
    try {
      await sshd.waitForOutput(`Server listening on 127.0.0.1 port ${port}`);
      const key = path.join(n.dir, 'user');
      const kp = generateEd25519();
      fs.writeFileSync(key, await privateKeyToOpenSSH(kp.privateKey, 'joe'), { mode: 0o600 });
      const cert = openSshCa.issueUserCert({ publicKey: kp.publicBlob, user: 'joe', logins: ['root'], ttlMs: 300_000 }, new Date());
      fs.writeFileSync(`${key}-cert.pub`, `${certificateLine(cert.blob)}\n`);
      const knownHosts = path.join(n.dir, 'known_hosts');
      fs.writeFileSync(knownHosts, `@cert-authority * ${hostCa.publicKeyLine()}\n`);
      const r = await run('ssh', [
        ...sshBaseArgs(port),
        '-o', 'StrictHostKeyChecking=yes', '-o', `UserKnownHostsFile=${knownHosts}`, '-o', 'HostKeyAlgorithms=ssh-ed25519-cert-v01@openssh.com',
        '-o', 'IdentitiesOnly=yes', '-i', key, '-o', `CertificateFile=${key}-cert.pub`,
        'root@127.0.0.1', 'echo logged-in-as-$(id -un)',
      ]);
      expect(r.stderr).toBe('');
      expect(r.stdout.trim()).toBe('logged-in-as-root');
      // A user certificate from another CA (say, the legacy user CA) opens nothing.
      const other = CertAuthority.generate('user').issueUserCert({ publicKey: kp.publicBlob, user: 'joe', logins: ['root'], ttlMs: 300_000 }, new Date());
      fs.writeFileSync(`${key}-cert.pub`, `${certificateLine(other.blob)}\n`);
      const refused = await run('ssh', [...sshBaseArgs(port), '-o', 'StrictHostKeyChecking=yes', '-o', `UserKnownHostsFile=${knownHosts}`, '-o', 'IdentitiesOnly=yes', '-i', key, '-o', `CertificateFile=${key}-cert.pub`, 'root@127.0.0.1', 'true']);
      expect(refused.code).not.toBe(0);
    } finally {
      await sshd.stop();
    }
  });
});
