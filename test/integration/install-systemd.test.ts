import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { cli, run, tmpDir } from '../helpers/proc.js';

const ANALYZE = '/usr/bin/systemd-analyze';

/** `teleport install systemd`: a unit that systemd itself accepts, naming the config and data dir. */
describe('teleport install systemd', () => {
  const dir = tmpDir('tollgate-systemd-');
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('prints a hardened unit naming the config and data dir, which systemd-analyze verify accepts', async () => {
    const config = path.join(dir, 'teleport.yaml');
    const dataDir = path.join(dir, 'data');
    fs.writeFileSync(config, `teleport:\n  data_dir: ${dataDir}\n  drain_timeout: 2m\n`);
    const r = await cli('teleport', ['install', 'systemd', '-c', config]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(` start -c ${config} --data-dir ${dataDir}`);
    expect(r.stdout).toMatch(/^NoNewPrivileges=yes$/m);
    expect(r.stdout).toMatch(/^ProtectSystem=strict$/m);
    // The key file's own directory beside the data dir must be writable too (made at first start).
    expect(r.stdout).toMatch(new RegExp(`^ReadWritePaths=${dataDir} ${dataDir}-keys$`, 'm'));
    expect(r.stdout).toMatch(/^PrivateTmp=yes$/m);
    expect(r.stdout).toMatch(/^ExecReload=\/bin\/kill -HUP \$MAINPID$/m);
    expect(r.stdout).toMatch(/^TimeoutStopSec=150$/m); // drain_timeout 2m + 30 s to close
    const unit = path.join(dir, 'teleport.service');
    const w = await cli('teleport', ['install', 'systemd', '-c', config, `--output=${unit}`]);
    expect(w.code, w.stderr).toBe(0);
    expect(fs.readFileSync(unit, 'utf8')).toBe(r.stdout);
    // Never replaces a file unless asked.
    const again = await cli('teleport', ['install', 'systemd', '-c', config, `--output=${unit}`]);
    expect(again).toMatchObject({ code: 1, stderr: expect.stringMatching(/^ERROR: .*already exists; add --overwrite to replace it\n$/) });
    if (!fs.existsSync(ANALYZE)) return; // verified where systemd is installed (Debian CI has it)
    const v = await run(ANALYZE, ['verify', unit]);
    expect(v.stdout + v.stderr).toBe('');
    expect(v.code).toBe(0);
  });

  it('the default data dir /var/lib/teleport is created by systemd (StateDirectory); bad paths are one-line errors', async () => {
    const r = await cli('teleport', ['install', 'systemd', '-c', path.join(dir, 'missing.yaml')]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^StateDirectory=teleport teleport-keys$/m);
    expect(r.stdout).toContain('--data-dir /var/lib/teleport');
    expect(r.stderr).toMatch(/^WARNING: .*missing\.yaml does not exist yet/);
    const bad = await cli('teleport', ['install', 'systemd', '-c', path.join(dir, 'missing.yaml'), '--data-dir', path.join(dir, 'a b')]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/^ERROR: the data dir .* has a character a systemd unit cannot take .*; use a path without them$/m);
  });
});
