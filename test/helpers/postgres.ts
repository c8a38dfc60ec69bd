import { afterAll, beforeAll } from 'vitest';
import fs from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { type Background, freePort, run, spawnBackground, tmpDir, waitFor } from './proc.js';

export interface TestPostgres {
  /** `postgresql://postgres@127.0.0.1:PORT/DB` (trust auth: no password). */
  connString(db?: string): string;
  /** Creates an empty database and returns its connection string. */
  createDatabase(name: string): Promise<string>;
  /** `pg_dump` of a database (plain SQL text), as an operator's backup would hold it. */
  dump(db: string): Promise<string>;
  /**
   * Stops the server but keeps its data dir and port (fast shutdown: open connections are
   * terminated, as when a database goes away under its clients); `startServer()` brings it back.
   */
  stopServer(): Promise<void>;
  /** Starts a server stopped by `stopServer()` again on the same data dir and port. */
  startServer(): Promise<void>;
  stop(): Promise<void>;
}

const PG_ROOT = '/usr/lib/postgresql';

/** The newest installed server's bin dir (Debian's layout), or a clear error naming the package. */
function serverBinDir(): string {
  const versions = fs.existsSync(PG_ROOT) ? fs.readdirSync(PG_ROOT).filter((v) => /^\d+$/.test(v)).sort((a, b) => Number(b) - Number(a)) : [];
  for (const v of versions) {
    const bin = path.join(PG_ROOT, v, 'bin');
    if (fs.existsSync(path.join(bin, 'initdb')) && fs.existsSync(path.join(bin, 'postgres'))) return bin;
  }
  throw new Error(
    `PostgreSQL server binaries (initdb, postgres) not found under ${PG_ROOT}/*/bin: ` +
      'install them with `apt-get install -y postgresql` (scripts/ensure-test-deps.sh does this as root)',
  );
}

/** initdb and postgres refuse to run as root: as root they run as the `postgres` user. */
async function asServerUser(): Promise<{ wrap: (cmd: string, args: string[]) => [string, string[]]; chown: (p: string) => void }> {
  if (process.getuid?.() !== 0) return { wrap: (cmd, args) => [cmd, args], chown: () => {} };
  const ids = await run('id', ['-u', 'postgres']);
  const gids = await run('id', ['-g', 'postgres']);
  if (ids.code !== 0 || gids.code !== 0) throw new Error('running as root, but there is no `postgres` user to run PostgreSQL as (the postgresql package creates it)');
  const uid = Number(ids.stdout.trim());
  const gid = Number(gids.stdout.trim());
  return { wrap: (cmd, args) => ['runuser', ['-u', 'postgres', '--', cmd, ...args]], chown: (p) => fs.chownSync(p, uid, gid) };
}

/**
 * A throwaway PostgreSQL cluster for one test file: initdb in a temp dir, the server on a free
 * 127.0.0.1 port with trust auth and durability off (tests need speed, not crash safety).
 */
export async function startPostgres(): Promise<TestPostgres> {
  const bin = serverBinDir();
  const user = await asServerUser();
  const dir = tmpDir('tollgate-pg-');
  // mkdtemp made it 0700 for us; the server user must own it (and so be able to enter it).
  user.chown(dir);
  const data = path.join(dir, 'data');
  const sock = path.join(dir, 'sock');
  fs.mkdirSync(sock, { mode: 0o700 });
  user.chown(sock);

  const [initCmd, initArgs] = user.wrap(path.join(bin, 'initdb'), ['-D', data, '-U', 'postgres', '-A', 'trust', '-E', 'UTF8', '--locale=C', '--no-sync', '--no-instructions']);
  const init = await run(initCmd, initArgs, { cwd: dir, timeoutMs: 60_000 });
  if (init.code !== 0) {
    fs.rmSync(dir, { recursive: true, force: true });
    throw new Error(`initdb failed (${init.code}): ${init.stderr || init.stdout}`);
  }

  let port = 0;
  let server: Background | undefined;
  let postmasterPid: number | undefined;
  // Read from postmaster.pid: as root the spawned process is runuser, not the postmaster.
  const readPid = () => {
    try {
      const pid = Number(fs.readFileSync(path.join(data, 'postmaster.pid'), 'utf8').split('\n')[0]);
      return pid > 0 ? pid : undefined;
    } catch {
      return undefined;
    }
  };
  const kill = (signal: NodeJS.Signals) => {
    const pid = postmasterPid ?? readPid();
    if (pid) {
      try {
        process.kill(pid, signal);
      } catch {
        // already gone
      }
    }
    if (server?.running) server.child.kill(signal);
  };
  // A test run that dies before stop() must not leave a server behind.
  const onExit = () => kill('SIGKILL');
  process.once('exit', onExit);

  const fail = async (err: Error): Promise<never> => {
    kill('SIGKILL');
    await server?.waitForExit(5_000);
    process.removeListener('exit', onExit);
    fs.rmSync(dir, { recursive: true, force: true });
    throw err;
  };

  /** Spawns the postmaster on `port` and waits until it answers a query. */
  const launch = async () => {
    const [cmd, args] = user.wrap(path.join(bin, 'postgres'), [
      '-D', data, '-k', sock, '-p', String(port),
      '-c', 'listen_addresses=127.0.0.1',
      '-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off',
      '-c', 'shared_buffers=32MB', '-c', 'max_connections=200',
    ]);
    server = spawnBackground(cmd, args, { cwd: dir });
    await waitFor(async () => {
      if (!server!.running) throw new Error(`postgres exited (${server!.exitCode}) before accepting connections:\n${server!.output}`);
      const c = new pg.Client({ host: '127.0.0.1', port, user: 'postgres', database: 'postgres', connectionTimeoutMillis: 1_000 });
      c.on('error', () => {});
      try {
        await c.connect();
        await c.query('SELECT 1');
        return true;
      } catch {
        return false;
      } finally {
        await c.end().catch(() => {});
      }
    }, `PostgreSQL on 127.0.0.1:${port}`, 30_000);
    postmasterPid = readPid();
  };

  // Another process can take the free port between freePort() and bind: try a few.
  for (let attempt = 1; ; attempt++) {
    port = await freePort();
    try {
      await launch();
      break;
    } catch (err) {
      const bindFailure = /could not (bind|create listen socket)/i.test(server!.output);
      if (bindFailure && attempt < 3 && !server!.running) continue;
      return fail(err as Error);
    }
  }

  let down = false;
  /** Fast shutdown (SIGINT: roll back open transactions, disconnect, exit), SIGKILL if it hangs. */
  const shutdown = async () => {
    if (down) return;
    down = true;
    kill('SIGINT');
    await server!.waitForExit(10_000);
    if (server!.running) {
      kill('SIGKILL');
      await server!.waitForExit(5_000);
    }
    postmasterPid = undefined;
  };

  const connString = (db = 'postgres') => `postgresql://postgres@127.0.0.1:${port}/${db}`;
  let stopped = false;
  return {
    connString,
    async dump(db) {
      const r = await run(path.join(bin, 'pg_dump'), [`--dbname=${connString(db)}`], { timeoutMs: 60_000 });
      if (r.code !== 0) throw new Error(`pg_dump failed: ${r.stderr}`);
      return r.stdout;
    },
    async createDatabase(name) {
      if (!/^[a-z_][a-z0-9_]{0,62}$/.test(name)) throw new Error(`bad test database name ${name}`);
      const c = new pg.Client({ connectionString: connString() });
      await c.connect();
      try {
        await c.query(`CREATE DATABASE ${name}`);
      } finally {
        await c.end();
      }
      return connString(name);
    },
    async stopServer() {
      if (stopped) throw new Error('PostgreSQL test cluster already removed');
      await shutdown();
    },
    async startServer() {
      if (stopped) throw new Error('PostgreSQL test cluster already removed');
      if (!down) return;
      // The same port: clients hold connection strings naming it. Right after a shutdown the
      // port can linger briefly, so a bind failure is retried for a few seconds.
      const deadline = Date.now() + 10_000;
      for (;;) {
        try {
          await launch();
          down = false;
          return;
        } catch (err) {
          const bindFailure = /could not (bind|create listen socket)/i.test(server!.output);
          if (!bindFailure || server!.running || Date.now() > deadline) {
            kill('SIGKILL');
            await server?.waitForExit(5_000);
            throw err;
          }
          await new Promise((r) => setTimeout(r, 200));
        }
      }
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      await shutdown();
      process.removeListener('exit', onExit);
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * One PostgreSQL cluster for the calling test file: started before its tests, stopped after.
 * `database()` makes a fresh database in it (`PREFIX_1`, `PREFIX_2`, ...), so every store or
 * storage a test opens starts empty.
 */
export function postgresForFile(prefix: string): { cluster(): TestPostgres; database(): Promise<string> } {
  let cluster: TestPostgres | undefined;
  let databases = 0;
  beforeAll(async () => {
    cluster = await startPostgres();
  });
  afterAll(async () => {
    await cluster?.stop();
  });
  const started = () => {
    if (!cluster) throw new Error('the PostgreSQL cluster is not started (use it inside a test)');
    return cluster;
  };
  return { cluster: started, database: () => started().createDatabase(`${prefix}_${++databases}`) };
}
