import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, it } from 'vitest';
import { nullLogger } from '../src/lib/log.js';
import { createSqliteStore } from '../src/lib/store/sqlite.js';
import type { SessionLine, Store } from '../src/lib/store/types.js';
import { startPostgres, type TestPostgres } from '../test/helpers/postgres.js';
import { ROOT, tmpDir } from '../test/helpers/proc.js';
import { sessionRow } from '../test/helpers/sessions.js';

/*
 * Issue 18, point 6: searching 1,000 indexed sessions answers in under 200 ms. Generates 1,000
 * shell sessions of 300 screen lines each (300,000 lines: prompts, commands, log output, with a
 * few rare words), indexes them through the Store, then times searches through Store.searchSessions
 * (what GET /webapi/sessions/search runs) on SQLite FTS5 and PostgreSQL tsvector+GIN. Writes
 * bench/results/search-<date>.json.
 */
const SESSIONS = 1000;
const LINES = 300;
const RUNS = 25;
const line = (label: string, text: string) => console.log(`${label.padEnd(52)} ${text}`);

const WORDS = ['deploy', 'service', 'nginx', 'restart', 'status', 'active', 'running', 'error', 'warning', 'info', 'connection', 'timeout', 'database', 'backup', 'started', 'finished', 'user', 'request', 'response', 'latency', 'kernel', 'memory', 'disk', 'usage', 'config', 'reload', 'systemd', 'journal', 'cron', 'job'];
const COMMANDS = ['ls -la /var/log', 'tail -n 50 /var/log/syslog', 'systemctl status nginx', 'df -h', 'free -m', 'cat /etc/hosts', 'grep -r error /var/log/app', 'journalctl -u app --since today', 'docker ps', 'git pull --rebase'];

function sessionLines(rand: () => number, i: number): SessionLine[] {
  const out: SessionLine[] = [];
  let t = 0;
  for (let seq = 0; seq < LINES; seq++) {
    t += Math.floor(rand() * 2000);
    let text: string;
    if (seq % 10 === 0) text = `root@web-${i % 40}:~# ${COMMANDS[Math.floor(rand() * COMMANDS.length)]}`;
    else text = Array.from({ length: 4 + Math.floor(rand() * 10) }, () => WORDS[Math.floor(rand() * WORDS.length)]).join(' ');
    // One rare line per session, and one in a thousand lines mentions a host id.
    if (seq === 150) text = `needle-${i}-42 found in ${WORDS[i % WORDS.length]}`;
    out.push({ seq, offsetMs: t, text });
  }
  return out;
}

/** A seeded generator, so both backends index the same text. */
function seeded(seed: number): () => number {
  let s = seed >>> 0;
  return () => ((s = (s * 1664525 + 1013904223) >>> 0) / 2 ** 32);
}

async function fill(store: Store): Promise<number> {
  const t0 = performance.now();
  const rand = seeded(42);
  for (let i = 0; i < SESSIONS; i++) {
    const row = sessionRow(`user${i % 50}`, Date.UTC(2026, 10, 1) + i * 60_000, { id: crypto.randomUUID(), node: `web-${i % 40}:22` });
    await store.createSession({ ...row, recording: `${row.id}.cast` });
    await store.indexSessionLines(row.id, sessionLines(rand, i));
  }
  return (performance.now() - t0) / 1000;
}

const QUERIES: Array<[string, Parameters<Store['searchSessions']>[0]]> = [
  ['rare phrase (needle-512-42)', { text: 'needle-512-42', limit: 20 }],
  ['a word on ~25% of lines (kernel)', { text: 'kernel', limit: 20 }],
  ['two words ANDed (database timeout)', { text: 'database timeout', limit: 20 }],
  ['prefix (restar*)', { text: 'restar*', limit: 20 }],
  ['phrase in commands ("systemctl status nginx")', { text: '"systemctl status nginx"', limit: 20 }],
  ['access user (user7, kernel)', { text: 'kernel', user: 'user7', limit: 20 }],
  ['node filter (web-3, error)', { text: 'error', node: 'web-3', limit: 20 }],
  ['second page (kernel, skip 20)', { text: 'kernel', limit: 20, skip: 20 }],
];

async function measure(name: string, store: Store): Promise<Record<string, { median_ms: number; p95_ms: number; hits: number }>> {
  const results: Record<string, { median_ms: number; p95_ms: number; hits: number }> = {};
  for (const [label, q] of QUERIES) {
    let hits = 0;
    for (let w = 0; w < 3; w++) hits = (await store.searchSessions(q)).length;
    const times: number[] = [];
    for (let r = 0; r < RUNS; r++) {
      const t0 = performance.now();
      await store.searchSessions(q);
      times.push(performance.now() - t0);
    }
    times.sort((a, b) => a - b);
    const median = times[Math.floor(times.length / 2)]!;
    const p95 = times[Math.floor(times.length * 0.95)]!;
    results[label] = { median_ms: Number(median.toFixed(2)), p95_ms: Number(p95.toFixed(2)), hits };
    line(`${name}: ${label}`, `median ${median.toFixed(1)} ms  p95 ${p95.toFixed(1)} ms  (${hits} hits)`);
  }
  return results;
}

const all: Record<string, unknown> = {};
let pg: TestPostgres | undefined;
afterAll(async () => {
  await pg?.stop();
  fs.mkdirSync(path.join(ROOT, 'bench/results'), { recursive: true });
  const file = path.join(ROOT, 'bench/results', `search-${new Date().toISOString().slice(0, 10)}.json`);
  fs.writeFileSync(file, `${JSON.stringify({ machine: `${process.platform} ${process.arch} node ${process.version}`, date: new Date().toISOString(), sessions: SESSIONS, lines_per_session: LINES, runs: RUNS, ...all }, null, 2)}\n`);
  console.log(`results written to ${path.relative(ROOT, file)}`);
});

it('search over 1,000 indexed sessions: SQLite FTS5', async () => {
  const dir = tmpDir('tollgate-bench-search-');
  const store = await createSqliteStore(path.join(dir, 'tollgate.db'));
  await store.migrate();
  try {
    const seconds = await fill(store);
    line('sqlite: indexed', `${SESSIONS * LINES} lines in ${seconds.toFixed(1)} s`);
    all.sqlite = { index_seconds: seconds, queries: await measure('sqlite', store) };
  } finally {
    await store.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

it('search over 1,000 indexed sessions: PostgreSQL tsvector + GIN', async () => {
  pg = await startPostgres();
  const { createPostgresStore } = await import('../src/lib/store/postgres.js');
  const store = await createPostgresStore(await pg.createDatabase('bench_search'), { logger: nullLogger });
  await store.migrate();
  try {
    const seconds = await fill(store);
    line('postgres: indexed', `${SESSIONS * LINES} lines in ${seconds.toFixed(1)} s`);
    all.postgres = { index_seconds: seconds, queries: await measure('postgres', store) };
  } finally {
    await store.close();
  }
});
