import { defaultKeysFile } from '../../src/lib/config/index.js';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDaemon, type TestDaemon } from '../helpers/daemon.js';
import { startPostgres, type TestPostgres } from '../helpers/postgres.js';
import { type Background, cli, run, spawnBackground, ROOT, tmpDir } from '../helpers/proc.js';

/*
 * Issue 16, acceptance 6: `strings` of the SQLite file and of a pg_dump hold no private key; the
 * daemon starts only with its key file; a database copied to another data dir cannot sign; two
 * daemons on one PostgreSQL database share one key file.
 */

const KEY_MATERIAL = /PRIVATE KEY|openssh-key-v1|b3BlbnNzaC1rZXktdjE|MC4CAQAwBQYDK2Vw/;

async function stringsOf(file: string): Promise<string> {
  const r = await run('strings', ['-a', '-n', '6', file]);
  expect(r.code, r.stderr).toBe(0);
  return r.stdout;
}

describe('keys sealed at rest: SQLite', () => {
  let daemon: TestDaemon | undefined;
  const spawned: Background[] = [];
  afterAll(async () => {
    await daemon?.stop();
    for (const p of spawned) await p.stop();
  });

  it('the store file has no key material; the key file is 0600 in a 0700 dir; a copied database does not start without it', async () => {
    daemon = await startDaemon({});
    // Something that signs: a host certificate (the CA key is used, so it was unsealed).
    const signed = await daemon.tctl(['auth', 'sign', '--host=node1', '-o', path.join(path.dirname(daemon.dataDir), 'node1')]);
    expect(signed.code, signed.stderr).toBe(0);
    const kek = defaultKeysFile(daemon.dataDir);
    expect(fs.statSync(kek).mode & 0o777).toBe(0o600);
    expect(fs.statSync(path.dirname(kek)).mode & 0o777).toBe(0o700);
    const dataDir = daemon.dataDir;
    await daemon.stop();
    daemon = undefined;
    // Not in the data dir: a copy of the data dir alone takes no key with it.
    expect(kek.startsWith(`${dataDir}/`)).toBe(false);
    const db = path.join(dataDir, 'tollgate.db');
    const text = await stringsOf(db);
    expect(text).toMatch(/tollgate-sealed:v1:/);
    expect(text).not.toMatch(KEY_MATERIAL);

    // The database (and its WAL, if any) copied into another data dir, without keys/.
    const other = path.join(tmpDir('tollgate-copy-'), 'data');
    fs.mkdirSync(other, { mode: 0o700 });
    for (const f of fs.readdirSync(path.dirname(db)).filter((f) => f.startsWith('tollgate.db'))) fs.copyFileSync(path.join(path.dirname(db), f), path.join(other, f));
    const proc = spawnBackground(process.execPath, [path.join(ROOT, 'bin/teleport'), 'start', '--roles=auth', '--data-dir', other], { cwd: ROOT });
    spawned.push(proc);
    await proc.waitForExit(30_000);
    expect(proc.running).toBe(false);
    expect(proc.output).toContain(`the store holds sealed CA keys but the key file ${defaultKeysFile(other)} is missing`);
    expect(fs.existsSync(defaultKeysFile(other))).toBe(false);
    // tctl on that copy cannot sign either: nothing is listening, and the keys stay sealed.
    const sign = await cli('tctl', ['auth', 'sign', '--host=x', '-o', path.join(other, 'x'), '--data-dir', other]);
    expect(sign.code).not.toBe(0);
  });
});

describe('keys sealed at rest: PostgreSQL, two daemons, one key file', () => {
  let pg: TestPostgres;
  const daemons: TestDaemon[] = [];
  beforeAll(async () => {
    pg = await startPostgres();
  });
  afterAll(async () => {
    for (const d of daemons) await d.stop();
    await pg?.stop();
  });

  it('both daemons sign with the same CA; pg_dump holds only sealed keys', async () => {
    const conn = await pg.createDatabase('sealed');
    const keys = path.join(tmpDir('tollgate-kek-'), 'shared', 'kek');
    const yaml = ['teleport:', `  keys_file: ${keys}`, '  storage:', '    type: postgres', `    conn_string: ${conn}`, 'auth_service:', '  cluster_name: example.test', ''].join('\n');
    const started = await Promise.all([startDaemon({ yaml }), startDaemon({ yaml })]);
    daemons.push(...started);
    const [a, b] = started as [TestDaemon, TestDaemon];
    expect(fs.statSync(keys).mode & 0o777).toBe(0o600);
    const [ea, eb] = await Promise.all([a.tctl(['auth', 'export', '--type=host']), b.tctl(['auth', 'export', '--type=host'])]);
    expect(eb.stdout).toBe(ea.stdout);
    for (const d of [a, b]) {
      const r = await d.tctl(['auth', 'sign', '--host=node1', '-o', path.join(path.dirname(d.dataDir), 'node1')]);
      expect(r.code, r.stderr).toBe(0);
    }
    const dump = await pg.dump('sealed');
    expect(dump).toContain('tollgate-sealed:v1:');
    expect(dump).not.toMatch(KEY_MATERIAL);
  });
});
