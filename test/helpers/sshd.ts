import fs from 'node:fs';
import path from 'node:path';
import { Background, freePort, run, spawnBackground, tmpDir } from './proc.js';

export interface TestSshd {
  port: number;
  dir: string;
  process: Background;
  stop(): Promise<void>;
}

export interface SshdOptions {
  /** Contents of the TrustedUserCAKeys file (written verbatim). */
  trustedUserCaKeys?: string;
  /** HostKey / HostCertificate files; a fresh plain host key when absent. */
  hostKey?: string;
  hostCertificate?: string;
  /** More sshd_config lines (RevokedKeys ...). */
  extraConfig?: readonly string[];
}

/**
 * The lines every test sshd config starts from: loopback at `port`, certificates only (no
 * passwords, no authorized_keys, no PAM), no pid file, and a clean HOME for logins (this
 * machine's root .bashrc runs `pyenv init`, whose rehash lock stalls concurrent shells).
 */
export function baseSshdConfig(o: { port: number; home: string }): string[] {
  return [
    `Port ${o.port}`,
    'ListenAddress 127.0.0.1',
    'AuthorizedKeysFile none',
    'PasswordAuthentication no',
    'KbdInteractiveAuthentication no',
    'UsePAM no',
    'PermitRootLogin prohibit-password',
    'StrictModes no',
    'PidFile none',
    'LogLevel VERBOSE',
    `SetEnv HOME=${o.home}`,
  ];
}

/**
 * A node's own sshd config in `dir`, for a test that enrols the node (teleport join openssh) and
 * then starts it: a fresh host key, a free port, the base lines and `extra`. Nothing is started.
 */
export async function writeNodeSshdConfig(dir: string, extra: readonly string[] = []): Promise<{ port: number; config: string; hostKey: string }> {
  fs.mkdirSync(path.join(dir, 'home'), { recursive: true });
  const port = await freePort();
  const hostKey = path.join(dir, 'ssh_host_ed25519_key');
  const r = await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', hostKey]);
  if (r.code !== 0) throw new Error(`ssh-keygen failed: ${r.stderr}`);
  const config = path.join(dir, 'sshd_config');
  fs.writeFileSync(config, `${[...baseSshdConfig({ port, home: path.join(dir, 'home') }), `HostKey ${hostKey}`, ...extra].join('\n')}\n`);
  return { port, config, hostKey };
}

/**
 * A real OpenSSH sshd on 127.0.0.1 at a free high port with its own config: no passwords, no
 * authorized_keys, only certificates from the trusted user CA. Needs root (it logs users in).
 */
export async function startSshd(opts: SshdOptions): Promise<TestSshd> {
  // sshd's privilege separation directory; Debian makes it at boot, containers often lack it.
  fs.mkdirSync('/run/sshd', { recursive: true, mode: 0o755 });
  const dir = tmpDir('tollgate-sshd-');
  const port = await freePort();
  let hostKey = opts.hostKey;
  if (!hostKey) {
    hostKey = path.join(dir, 'ssh_host_ed25519_key');
    const r = await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', hostKey]);
    if (r.code !== 0) throw new Error(`ssh-keygen failed: ${r.stderr}`);
  }
  const caFile = path.join(dir, 'user_ca.pub');
  if (opts.trustedUserCaKeys !== undefined) fs.writeFileSync(caFile, opts.trustedUserCaKeys);
  const config = [
    ...baseSshdConfig({ port, home: path.join(dir, 'home') }),
    `HostKey ${hostKey}`,
    ...(opts.hostCertificate ? [`HostCertificate ${opts.hostCertificate}`] : []),
    ...(opts.trustedUserCaKeys !== undefined ? [`TrustedUserCAKeys ${caFile}`] : []),
    'Subsystem sftp internal-sftp',
    // Load tests open many connections at once; the default (10:30:100) would drop some.
    'MaxStartups 200',
    'MaxSessions 200',
    ...(opts.extraConfig ?? []),
  ].join('\n');
  fs.mkdirSync(path.join(dir, 'home'), { mode: 0o755 });
  const configFile = path.join(dir, 'sshd_config');
  fs.writeFileSync(configFile, `${config}\n`);
  const proc = spawnBackground('/usr/sbin/sshd', ['-D', '-e', '-f', configFile]);
  await proc.waitForOutput(`Server listening on 127.0.0.1 port ${port}`);
  return {
    port,
    dir,
    process: proc,
    stop: async () => {
      await proc.stop();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Options every test ssh client uses: no user config, no agent, no prompts, short timeouts. */
export function sshBaseArgs(port: number, opts: { agent?: string } = {}): string[] {
  // ssh keeps the first value it sees for an option, so the agent is chosen here, once.
  return ['-F', '/dev/null', '-p', String(port), '-o', 'BatchMode=yes', '-o', `IdentityAgent=${opts.agent ?? 'none'}`, '-o', 'ConnectTimeout=10', '-o', 'LogLevel=ERROR'];
}
