import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { playText } from '../../src/lib/recording/index.js';

describe('tsh play --format=text (playText)', () => {
  it('writes the output, and each marker on a line of its own', async () => {
    const cast = [
      JSON.stringify({ version: 2, width: 80, height: 24 }),
      JSON.stringify([0.1, 'o', '$ ls']),
      JSON.stringify([0.2, 'm', 'sftp open /tmp/a (write,create,trunc)']),
      JSON.stringify([0.3, 'm', 'sftp write /tmp/a 5 bytes']),
      JSON.stringify([0.4, 'r', '100x30']),
      JSON.stringify([0.5, 'o', 'done\r\n']),
      JSON.stringify([0.6, 'm', 'sftp close /tmp/a']),
      '',
    ].join('\n');
    let out = '';
    await playText(Readable.from([Buffer.from(cast)]), (t) => void (out += t));
    expect(out).toBe('$ ls\n[sftp open /tmp/a (write,create,trunc)]\n[sftp write /tmp/a 5 bytes]\ndone\r\n[sftp close /tmp/a]\n');
  });
});
