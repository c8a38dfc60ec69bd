import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ROOT, spawnBackground, tmpDir, type Background } from '../helpers/proc.js';

/**
 * Acceptance 1: the README's run command starts the daemon on embedded defaults and says where its
 * data lives. The command is read from the README itself so the two cannot drift apart.
 */
describe('README', () => {
  const readme = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');
  const block = /```sh\n([^\n]+)\n([^\n]+)\n```/.exec(readme);
  let daemon: Background | undefined;
  let created: string | undefined;

  afterAll(async () => {
    await daemon?.stop();
    if (created) fs.rmSync(created, { recursive: true, force: true });
  });

  it('opens with exactly two commands: run, then test', () => {
    expect(readme.startsWith('# tollgate\n\n```sh\n')).toBe(true);
    expect(block).not.toBeNull();
    expect(block![1]).toBe('npm ci && node bin/teleport start');
    expect(block![2]).toBe('npm ci && npm test');
  });

  it('the run command starts the daemon on embedded defaults and prints its data dir', async () => {
    // `npm ci` already ran for this test; run the rest of the line exactly as written.
    const command = block![1]!.split('&&').slice(1).join('&&').trim();
    const home = tmpDir('tollgate-readme-home-');
    const env = { ...process.env, HOME: home, XDG_DATA_HOME: path.join(home, 'share') };
    const isRoot = process.getuid?.() === 0;
    const expectedDir = isRoot ? '/var/lib/teleport' : path.join(home, 'share', 'tollgate');
    expect(fs.existsSync('/etc/teleport.yaml'), 'this test needs a machine without /etc/teleport.yaml').toBe(false);
    if (fs.existsSync(path.join(expectedDir, 'admin.sock'))) throw new Error(`a daemon may be running on ${expectedDir}; stop it first`);
    if (!fs.existsSync(expectedDir)) created = expectedDir;
    daemon = spawnBackground('bash', ['-c', `exec ${command}`], { cwd: ROOT, env });
    await daemon.waitForOutput('auth service started');
    await daemon.waitForOutput('web proxy listening addr=https://0.0.0.0:3080');
    expect(daemon.output).toContain(`data_dir="${expectedDir} (default for ${isRoot ? 'root' : 'non-root users'})"`);
    expect(daemon.output).toContain('config="embedded defaults"');
    expect(fs.statSync(expectedDir).mode & 0o777).toBe(0o700);
    expect(fs.statSync(path.join(expectedDir, 'tollgate.db')).mode & 0o777).toBe(0o600);
    expect(fs.statSync(path.join(expectedDir, 'admin.sock')).mode & 0o777).toBe(0o600);
    expect(await daemon.stop()).toBe(0);
    fs.rmSync(home, { recursive: true, force: true });
  });
});
