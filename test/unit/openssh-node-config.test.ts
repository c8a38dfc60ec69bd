import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { dropInPath, managedLines, removeBlock, snippetLines, upsertBlock } from '../../src/lib/openssh-node/sshd-config.js';

/* The sshd_config text edits of `teleport join openssh`: where the lines go, never twice. */
const files = { caFile: '/d/openssh_ca.pub', hostKey: '/d/key', hostCert: '/d/key-cert.pub' };
const lines = snippetLines(files, []);

describe('upsertBlock', () => {
  it('appends one block (with a blank line before it) when there is no Match', () => {
    const out = upsertBlock('Port 22\nUsePAM yes\n', lines);
    expect(out).toBe(`Port 22\nUsePAM yes\n\n# BEGIN tollgate\n${out.split('\n')[4]}\n${lines.join('\n')}\n# END tollgate\n`);
    expect(upsertBlock(out, lines)).toBe(out);
  });

  it('goes before the first Match, whatever its case and indentation', () => {
    const text = 'Port 22\n  match User bob\n  X11Forwarding no\nMatch all\n';
    const out = upsertBlock(text, lines);
    const l = out.split('\n');
    expect(l.indexOf('# END tollgate')).toBeLessThan(l.indexOf('  match User bob'));
    expect(l[0]).toBe('Port 22');
    expect(upsertBlock(out, lines)).toBe(out);
  });

  it('replaces the block in place with new lines, keeping everything else', () => {
    const once = upsertBlock('Port 22\nMatch User bob\n  X11Forwarding no\n', lines);
    const other = snippetLines({ ...files, caFile: '/e/ca.pub' }, ['/etc/ssh/ssh_host_rsa_key']);
    const twice = upsertBlock(once, other);
    expect(twice.match(/BEGIN tollgate/g)).toHaveLength(1);
    expect(twice).toContain('TrustedUserCAKeys /e/ca.pub\nHostKey /etc/ssh/ssh_host_rsa_key\nHostKey /d/key\n');
    expect(twice).not.toContain('/d/openssh_ca.pub');
    expect(removeBlock(twice)).toBe('Port 22\nMatch User bob\n  X11Forwarding no\n');
  });

  it('moves a block that an admin left inside a Match block back to the global part', () => {
    const text = 'Port 22\nMatch User bob\n# BEGIN tollgate\nHostKey /old\n# END tollgate\n';
    const out = upsertBlock(text, lines);
    expect(out.match(/BEGIN tollgate/g)).toHaveLength(1);
    expect(out.indexOf('# END tollgate')).toBeLessThan(out.indexOf('Match User bob'));
    expect(out).not.toContain('/old');
  });

  it('quotes paths with spaces', () => {
    expect(snippetLines({ ...files, caFile: '/my dir/ca.pub' }, [])[0]).toBe('TrustedUserCAKeys "/my dir/ca.pub"');
  });
});

describe('managedLines', () => {
  it('reads the directives inside the block, or a whole drop-in', () => {
    const out = upsertBlock('Port 22\n', lines);
    expect(managedLines(out, false)).toEqual(lines);
    expect(managedLines('Port 22\n', false)).toBeUndefined();
    expect(managedLines(`# c\n${lines.join('\n')}\n`, true)).toEqual(lines);
  });
});

describe('dropInPath', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tollgate-dropin-'));
  fs.mkdirSync(path.join(dir, 'sshd_config.d'));
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('finds an Include of DIR/*.conf whose directory exists', () => {
    expect(dropInPath(`Include ${dir}/sshd_config.d/*.conf\nPort 22\n`)).toBe(path.join(dir, 'sshd_config.d', '10-tollgate.conf'));
    expect(dropInPath(`include=${dir}/sshd_config.d/*\n`)).toBe(path.join(dir, 'sshd_config.d', '10-tollgate.conf'));
  });

  it('resolves a relative Include against sshd\'s directory, as sshd does', () => {
    expect(dropInPath('Include sshd_config.d/*.conf\n', dir)).toBe(path.join(dir, 'sshd_config.d', '10-tollgate.conf'));
    expect(dropInPath('Include sshd_config.d/*.conf\n', path.join(dir, 'elsewhere'))).toBeUndefined();
  });

  it('ignores Includes that cannot hold our file: other globs, missing dirs, inside a Match', () => {
    expect(dropInPath(`Include ${dir}/sshd_config.d/*.cfg\n`)).toBeUndefined();
    expect(dropInPath(`Include ${dir}/missing.d/*.conf\n`)).toBeUndefined();
    expect(dropInPath(`Port 22\nMatch User bob\nInclude ${dir}/sshd_config.d/*.conf\n`)).toBeUndefined();
    expect(dropInPath('# Include /etc/ssh/sshd_config.d/*.conf\n')).toBeUndefined();
  });
});
