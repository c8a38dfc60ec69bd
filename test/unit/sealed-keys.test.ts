import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { AuthService } from '../../src/lib/auth/auth-service.js';
import { fileKeySource, fixedKeySource, isSealed, type KeySource, sealPrivateKey, unsealPrivateKey } from '../../src/lib/auth/sealed-keys.js';
import { CertAuthority } from '../../src/lib/ca/index.js';
import { FakeClock } from '../../src/lib/clock.js';
import { loadConfig } from '../../src/lib/config/index.js';
import { TollgateError } from '../../src/lib/errors.js';
import { nullLogger } from '../../src/lib/log.js';
import { postgresPoolOptions } from '../../src/lib/store/postgres.js';
import { createSqliteStore } from '../../src/lib/store/sqlite.js';
import { run } from '../helpers/proc.js';

/*
 * Issue 16, "keys sealed at rest" (acceptance 6, the in-process half): the store holds only
 * AES-256-GCM ciphertext of the CA and recording keys; the key-encryption key lives outside it.
 */

const dirs: string[] = [];
const tmp = () => {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'tollgate-seal-'));
  dirs.push(d);
  return d;
};
afterEach(() => {
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

const service = (store: Awaited<ReturnType<typeof createSqliteStore>>, keys: KeySource) =>
  new AuthService({ store, clock: new FakeClock(Date.UTC(2026, 5, 1)), log: nullLogger, clusterName: 'example.test', publicWebAddr: { host: 'p', port: 3080 }, maxSessionTtlMs: 1e9, certSourceAddresses: [], keys });

/** What `strings` finds of private keys in a file (PKCS#8 PEM or OpenSSH's format). */
async function keyMaterialIn(file: string): Promise<string[]> {
  const r = await run('strings', ['-a', '-n', '6', file]);
  expect(r.code, r.stderr).toBe(0);
  return r.stdout.split('\n').filter((l) => /PRIVATE KEY|openssh-key-v1|b3BlbnNzaC1rZXktdjE|MC4CAQAwBQYDK2Vw/.test(l));
}

describe('seal and unseal', () => {
  const kek = crypto.randomBytes(32);
  const pem = CertAuthority.generate('user').pem;

  it('round-trips; the CA type is bound in (AAD); another key or an edited row does not open', () => {
    const sealed = sealPrivateKey(kek, 'user', pem);
    expect(isSealed(sealed)).toBe(true);
    expect(sealed).not.toContain('PRIVATE KEY');
    expect(unsealPrivateKey(kek, 'user', sealed, 'k')).toBe(pem);
    expect(() => unsealPrivateKey(kek, 'host', sealed, 'k')).toThrow(/does not open: it was altered/);
    expect(() => unsealPrivateKey(crypto.randomBytes(32), 'user', sealed, 'the key file /x')).toThrow(/sealed with another key-encryption key .* than the key file \/x/);
    const body = Buffer.from(sealed.split(':').at(-1)!, 'base64');
    body[40]! ^= 1;
    expect(() => unsealPrivateKey(kek, 'user', `${sealed.slice(0, sealed.lastIndexOf(':') + 1)}${body.toString('base64')}`, 'k')).toThrow(/altered or damaged/);
  });

  it('the key file: created 0600 in a 0700 directory, read back; readable by others is refused', () => {
    const file = path.join(tmp(), 'data', 'keys', 'kek');
    const src = fileKeySource(file);
    expect(src.read()).toBeUndefined();
    const k = src.create();
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
    expect(fs.statSync(path.dirname(file)).mode & 0o777).toBe(0o700);
    expect(src.read()!.equals(k)).toBe(true);
    // Two daemons creating at once: the second gets the first one's key.
    expect(fileKeySource(file).create().equals(k)).toBe(true);
    fs.chmodSync(file, 0o644);
    expect(() => src.read()).toThrow(/readable by others/);
  });
});

describe('the auth service keeps only sealed keys in the store', () => {
  it('a fresh store: every CA row sealed, strings of the SQLite file finds no private key', async () => {
    const dir = tmp();
    const db = path.join(dir, 'tollgate.db');
    const store = await createSqliteStore(db);
    await store.migrate();
    const auth = service(store, fileKeySource(path.join(dir, 'keys', 'kek')));
    await auth.init();
    for (const t of ['user', 'host', 'openssh', 'recording'] as const) expect(isSealed((await store.getCertAuthority(t))!.privateKeyPem)).toBe(true);
    expect(auth.exportCA('user')).toMatch(/^ssh-ed25519 /);
    await store.close();
    expect(await keyMaterialIn(db)).toEqual([]);
  });

  it('plaintext rows from an older version are sealed at start and leave no trace in the file; the same CAs sign', async () => {
    const dir = tmp();
    const db = path.join(dir, 'tollgate.db');
    let store = await createSqliteStore(db);
    await store.migrate();
    for (const type of ['user', 'host', 'openssh', 'recording'] as const) {
      const ca = CertAuthority.generate(type === 'recording' ? 'user' : type);
      await store.createCertAuthorityIfAbsent({ type, privateKeyPem: ca.pem, publicKey: ca.publicBlob.toString('base64'), createdAt: 1 });
    }
    const before = (await store.getCertAuthority('user'))!.publicKey;
    await store.close();
    expect((await keyMaterialIn(db)).length).toBeGreaterThan(0);

    store = await createSqliteStore(db);
    const auth = service(store, fileKeySource(path.join(dir, 'keys', 'kek')));
    await auth.init();
    const after = (await store.getCertAuthority('user'))!;
    expect(after.publicKey).toBe(before);
    expect(isSealed(after.privateKeyPem)).toBe(true);
    await store.close();
    expect(await keyMaterialIn(db)).toEqual([]);
    expect(await keyMaterialIn(`${db}-wal`).catch(() => [])).toEqual([]);
  });

  it('a store with sealed keys and no key file does not start (the database copied elsewhere cannot sign)', async () => {
    const dir = tmp();
    const db = path.join(dir, 'tollgate.db');
    let store = await createSqliteStore(db);
    await store.migrate();
    await service(store, fileKeySource(path.join(dir, 'keys', 'kek'))).init();
    await store.close();

    const copy = path.join(tmp(), 'tollgate.db');
    fs.copyFileSync(db, copy);
    store = await createSqliteStore(copy);
    const missing = path.join(path.dirname(copy), 'keys', 'kek');
    const err = await service(store, fileKeySource(missing)).init().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TollgateError);
    expect((err as TollgateError).message).toBe(`the store holds sealed CA keys but the key file ${missing} is missing`);
    expect(fs.existsSync(missing)).toBe(false);
    // Another key (TOLLGATE_KEK of another cluster) does not open them either.
    await expect(service(store, fixedKeySource(crypto.randomBytes(32), 'TOLLGATE_KEK')).init()).rejects.toThrow(/sealed with another key-encryption key/);
    await store.close();
  });
});

describe('config: keys_file, TOLLGATE_KEK, sslmode', () => {
  const load = (yaml: string, env: NodeJS.ProcessEnv = {}) => {
    const dir = tmp();
    const file = path.join(dir, 'teleport.yaml');
    fs.writeFileSync(file, yaml);
    return loadConfig({ configFile: file, hostname: 'box', systemConfigFile: '/nonexistent', env });
  };

  it('default beside the data dir (DATA_DIR-keys/kek); keys_file relative to the config file; TOLLGATE_KEK; not both', () => {
    const c = load('teleport:\n  data_dir: /srv/tg\n');
    expect(c.keys).toEqual({ kind: 'file', file: '/srv/tg-keys/kek' });
    const rel = load('teleport:\n  keys_file: secrets/kek\n');
    expect(rel.keys).toEqual({ kind: 'file', file: path.join(path.dirname(rel.file!), 'secrets', 'kek') });
    const key = crypto.randomBytes(32).toString('base64');
    expect(load('teleport:\n  data_dir: /srv/tg\n', { TOLLGATE_KEK: key }).keys).toEqual({ kind: 'env', keyBase64: key });
    expect(() => load('teleport:\n  keys_file: /k\n', { TOLLGATE_KEK: key })).toThrow(/keys_file is set and so is TOLLGATE_KEK/);
    expect(() => load('teleport:\n  data_dir: /srv/tg\n', { TOLLGATE_KEK: 'c2hvcnQ=' })).toThrow(/TOLLGATE_KEK: must be 32 bytes in base64/);
  });

  it('conn_string keeps sslmode: pg gets the URL whole and turns sslmode=require into TLS', () => {
    const opts = postgresPoolOptions('postgres://tollgate@db.example:5432/tollgate?sslmode=require');
    expect(opts.ssl).toBeUndefined();
    const client = new pg.Client(opts) as unknown as { ssl: unknown };
    expect(client.ssl).toBeTruthy();
    const plain = new pg.Client(postgresPoolOptions('postgres://tollgate@db.example:5432/tollgate')) as unknown as { ssl: unknown };
    expect(plain.ssl).toBeFalsy();
  });
});
