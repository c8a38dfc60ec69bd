import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { castEvents, sessions, startCluster, type Cluster } from '../helpers/cluster.js';
import { run, tmpDir } from '../helpers/proc.js';

/**
 * File transfers as events: real sftp and scp (OpenSSH 9, which runs scp over sftp) through the
 * recording proxy to a real sshd. Each file operation, with its path and size, is a marker in the
 * recording and an `sftp` audit event.
 */
describe('sftp and scp through the recording proxy: file operations recorded as events', () => {
  let c: Cluster;
  let work: string;
  let sshConfig: string;
  let remoteDir: string;

  interface SftpAudit {
    event: string;
    user: string;
    sid: string;
    login: string;
    node: string;
    op: string;
    path: string;
    bytes?: number;
    target?: string;
    result: string;
  }

  beforeAll(async () => {
    c = await startCluster();
    work = tmpDir('tollgate-sftp-test-');
    remoteDir = `/tmp/tollgate-sftp-${process.pid}`;
    fs.rmSync(remoteDir, { recursive: true, force: true });
    const kh = path.join(work, 'known_hosts');
    fs.writeFileSync(kh, (await c.daemon.tctl(['auth', 'export', '--type=host', '--host-pattern=*'])).stdout);
    sshConfig = path.join(work, 'ssh_config');
    fs.writeFileSync(
      sshConfig,
      ['Host *', '  StrictHostKeyChecking yes', `  UserKnownHostsFile ${kh}`, '  GlobalKnownHostsFile /dev/null', '  BatchMode yes', `  IdentityAgent ${c.agent.socket}`, '  LogLevel ERROR', '  ConnectTimeout 10', ''].join('\n'),
    );
  });
  afterAll(async () => {
    await c?.stop();
    if (work) fs.rmSync(work, { recursive: true, force: true });
    if (remoteDir) fs.rmSync(remoteDir, { recursive: true, force: true });
  });

  // scp and sftp pass -oForwardAgent=no to ssh: -A on their own command line forwards the agent.
  const via = ['-F', () => sshConfig, '-A', '-J', () => `joe@127.0.0.1:${c.sshPort}`, '-P', () => String(c.sshd.port)] as const;
  const args = () => via.map((a) => (typeof a === 'function' ? a() : a));

  const sftpEvents = async (sid: string): Promise<SftpAudit[]> => {
    const r = await c.daemon.tctl(['events', 'ls', '--type=sftp', '--format=json', '--limit=1000']);
    expect(r.code, r.stderr).toBe(0);
    return (JSON.parse(r.stdout) as SftpAudit[]).filter((e) => e.sid === sid).reverse();
  };
  /** The session's audit events, waited for: they are written as the operations happen. */
  const waitForEvents = async (sid: string, n: number): Promise<SftpAudit[]> => {
    for (let i = 0; ; i++) {
      const events = await sftpEvents(sid);
      if (events.length >= n || i === 50) return events;
      await new Promise((r) => setTimeout(r, 100));
    }
  };
  const newSftpSession = async (before: Set<string>) => {
    const s = (await sessions(c.daemon)).filter((x) => x.kind === 'sftp' && !before.has(x.id));
    expect(s).toHaveLength(1);
    return s[0]!;
  };
  const sessionIds = async () => new Set((await sessions(c.daemon)).map((s) => s.id));
  const markers = (sid: string) => castEvents(c.daemon, sid).events.filter((e) => e[1] === 'm' && e[2].startsWith('sftp ')).map((e) => e[2]);

  it('sftp -b: mkdir, put, rename, get, rm, rmdir are each a marker and an sftp audit event with path and size', async () => {
    const src = path.join(work, 'up.bin');
    const content = crypto.randomBytes(300 * 1024 + 7);
    fs.writeFileSync(src, content);
    const back = path.join(work, 'back.bin');
    const batch = path.join(work, 'batch');
    fs.writeFileSync(
      batch,
      [`mkdir ${remoteDir}`, `put ${src} ${remoteDir}/up.bin`, `rename ${remoteDir}/up.bin ${remoteDir}/moved.bin`, `get ${remoteDir}/moved.bin ${back}`, `rm ${remoteDir}/moved.bin`, `rmdir ${remoteDir}`, ''].join('\n'),
    );
    const before = await sessionIds();
    const r = await run('sftp', [...args(), '-b', batch, 'root@127.0.0.1'], { timeoutMs: 60_000 });
    expect(r.code, r.stderr).toBe(0);
    expect(fs.readFileSync(back).equals(content)).toBe(true);

    const s = await newSftpSession(before);
    const size = content.length;
    const m = markers(s.id);
    expect(m).toEqual(
      expect.arrayContaining([
        `sftp mkdir ${remoteDir}`,
        `sftp open ${remoteDir}/up.bin (write,create,trunc)`,
        `sftp write ${remoteDir}/up.bin ${size} bytes`,
        `sftp close ${remoteDir}/up.bin`,
        `sftp rename ${remoteDir}/up.bin -> ${remoteDir}/moved.bin`,
        `sftp open ${remoteDir}/moved.bin (read)`,
        `sftp read ${remoteDir}/moved.bin ${size} bytes`,
        `sftp close ${remoteDir}/moved.bin`,
        `sftp remove ${remoteDir}/moved.bin`,
        `sftp rmdir ${remoteDir}`,
      ]),
    );
    // In the order they happened.
    const order = ['mkdir', 'open', 'write', 'rename', 'read', 'remove', 'rmdir'].map((op) => m.findIndex((x) => x.startsWith(`sftp ${op} `)));
    expect([...order].sort((a, b) => a - b)).toEqual(order);

    const events = await waitForEvents(s.id, m.length);
    expect(events).toHaveLength(m.length);
    const common = { event: 'sftp', user: 'joe', sid: s.id, login: 'root', node: `127.0.0.1:${c.sshd.port}`, result: 'success' };
    expect(events).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ ...common, op: 'mkdir', path: remoteDir }),
        expect.objectContaining({ ...common, op: 'open', path: `${remoteDir}/up.bin`, flags: 'write,create,trunc' }),
        expect.objectContaining({ ...common, op: 'write', path: `${remoteDir}/up.bin`, bytes: size }),
        expect.objectContaining({ ...common, op: 'rename', path: `${remoteDir}/up.bin`, target: `${remoteDir}/moved.bin` }),
        expect.objectContaining({ ...common, op: 'read', path: `${remoteDir}/moved.bin`, bytes: size }),
        expect.objectContaining({ ...common, op: 'remove', path: `${remoteDir}/moved.bin` }),
        expect.objectContaining({ ...common, op: 'rmdir', path: remoteDir }),
      ]),
    );
    // The bytes are recorded as before: exact counts in the session index.
    expect(s.bytesIn).toBeGreaterThan(size);
    expect(s.bytesOut).toBeGreaterThan(size);

    // tsh play --format=text shows the operations as lines.
    const text = await c.tsh(['play', s.id, '--format=text', '--data-dir', c.daemon.dataDir]);
    expect(text.code, text.stderr).toBe(0);
    expect(text.stdout).toContain(`\n[sftp write ${remoteDir}/up.bin ${size} bytes]\n`);
  });

  it('scp (over sftp on OpenSSH 9) up and back: each file with its size; a refused write is a failure', async () => {
    fs.mkdirSync(remoteDir, { recursive: true });
    const src = path.join(work, 'scp.bin');
    const content = crypto.randomBytes(70_000);
    fs.writeFileSync(src, content);
    const remote = `${remoteDir}/scp.bin`;

    let before = await sessionIds();
    const up = await run('scp', [...args(), '-q', src, `root@127.0.0.1:${remote}`], { timeoutMs: 60_000 });
    expect(up.code, up.stderr).toBe(0);
    const upSession = await newSftpSession(before);
    // scp opens without trunc and truncates to the size it wrote (fsetstat), as OpenSSH 9.2 does.
    expect(markers(upSession.id)).toEqual(
      expect.arrayContaining([`sftp open ${remote} (write,create)`, `sftp setstat ${remote} (size ${content.length})`, `sftp write ${remote} ${content.length} bytes`, `sftp close ${remote}`]),
    );
    expect(await waitForEvents(upSession.id, 3)).toEqual(expect.arrayContaining([expect.objectContaining({ op: 'write', path: remote, bytes: content.length, result: 'success' })]));

    before = await sessionIds();
    const back = path.join(work, 'scp-back.bin');
    const down = await run('scp', [...args(), '-q', `root@127.0.0.1:${remote}`, back], { timeoutMs: 60_000 });
    expect(down.code, down.stderr).toBe(0);
    expect(fs.readFileSync(back).equals(content)).toBe(true);
    const downSession = await newSftpSession(before);
    expect(markers(downSession.id)).toEqual(expect.arrayContaining([`sftp open ${remote} (read)`, `sftp read ${remote} ${content.length} bytes`]));
    expect(await waitForEvents(downSession.id, 3)).toEqual(expect.arrayContaining([expect.objectContaining({ op: 'read', path: remote, bytes: content.length, result: 'success' })]));

    // A refused operation is recorded with its failure (the node's own message).
    before = await sessionIds();
    const refused = await run('scp', [...args(), '-q', src, 'root@127.0.0.1:/proc/version'], { timeoutMs: 60_000 });
    expect(refused.code).not.toBe(0);
    const refusedSession = await newSftpSession(before);
    const failed = (await waitForEvents(refusedSession.id, 1)).filter((e) => e.result === 'failure');
    expect(failed.length, JSON.stringify(markers(refusedSession.id))).toBeGreaterThan(0);
    expect(markers(refusedSession.id)).toContain('sftp write /proc/version 0 bytes failed: Failure');
  });
});
