import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { cli, tmpDir } from '../helpers/proc.js';

const oneLine = (r: { code: number | null; stderr: string }, message: RegExp, code = 1) => {
  expect(r.code).toBe(code);
  const errors = r.stderr.split('\n').filter((l) => l.startsWith('ERROR: '));
  expect(errors).toHaveLength(1);
  expect(errors[0]).toMatch(message);
  expect(errors[0]).toMatch(/; \S/); // a hint after the message
};

/** The operations inputs a user can get wrong: each is one line with a hint and a non-zero exit. */
describe('operations: bad input', () => {
  const dir = tmpDir('tollgate-ops-bad-');
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('--diag-addr without a port, a log file in a missing directory, an unknown log format', async () => {
    oneLine(await cli('teleport', ['start', '--diag-addr=nope', '--data-dir', path.join(dir, 'd1')]), /^ERROR: --diag-addr: "nope" has no port/);
    const cfg = path.join(dir, 'log.yaml');
    fs.writeFileSync(cfg, 'teleport:\n  log:\n    output: /nonexistent/dir/t.log\n');
    oneLine(await cli('teleport', ['start', '-c', cfg, '--data-dir', path.join(dir, 'd2')]), /^ERROR: cannot open the log file \/nonexistent\/dir\/t\.log \(teleport\.log\.output\): ENOENT/);
    fs.writeFileSync(cfg, 'teleport:\n  log:\n    format: yaml\n');
    oneLine(await cli('teleport', ['start', '-c', cfg, '--data-dir', path.join(dir, 'd3')]), /^ERROR: .*log\.yaml:3: teleport\.log\.format: must be text or json/);
  });

  it('a diag_addr whose port is taken stops the daemon with a line naming the key', async () => {
    const taken = net.createServer();
    await new Promise<void>((r) => taken.listen(0, '127.0.0.1', () => r()));
    try {
      const port = (taken.address() as net.AddressInfo).port;
      const r = await cli('teleport', ['start', '--roles=auth', '--data-dir', path.join(dir, 'd4'), `--diag-addr=127.0.0.1:${port}`], { timeoutMs: 30_000 });
      // 3: the `unavailable` kind's exit code, as for the other listeners.
      oneLine(r, /^ERROR: cannot listen on 127\.0\.0\.1:\d+ \(teleport\.diag_addr\): address already in use/, 3);
    } finally {
      taken.close();
    }
  });
});
