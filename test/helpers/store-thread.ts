import { createRequire } from 'node:module';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { TollgateError, type ErrorKind } from '../../src/lib/errors.js';
import type { Store } from '../../src/lib/store/types.js';
import { ROOT } from './proc.js';

/*
 * A SQLite store opened in a worker thread: its own connection and its own event loop, as a second
 * process (tctl beside the daemon) has. Two better-sqlite3 connections on one event loop cannot
 * race: while one holds the write lock between two awaits, the other's busy wait blocks the
 * thread that would release it. The worker runs the TypeScript sources, compiled on load.
 */

// Module hooks for the worker: `./x.js` imported from a .ts file resolves to `./x.ts`, and .ts
// files are transpiled (types dropped) with the project's own TypeScript.
const HOOKS = `
import fs from 'node:fs';
import { fileURLToPath } from 'node:url';
let ts;
export async function initialize(data) { ts = (await import(data.typescript)).default; }
export async function resolve(specifier, context, next) {
  if (specifier.startsWith('.') && specifier.endsWith('.js') && context.parentURL?.endsWith('.ts')) {
    const url = new URL(specifier.slice(0, -3) + '.ts', context.parentURL);
    if (fs.existsSync(fileURLToPath(url))) return { url: url.href, shortCircuit: true };
  }
  return next(specifier, context);
}
export async function load(url, context, next) {
  if (!url.endsWith('.ts')) return next(url, context);
  const source = fs.readFileSync(new URL(url), 'utf8');
  const out = ts.transpileModule(source, {
    fileName: fileURLToPath(url),
    compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022, sourceMap: false },
  });
  return { format: 'module', source: out.outputText, shortCircuit: true };
}
`;

const WORKER = `
const { parentPort, workerData } = require('node:worker_threads');
require('node:module').register('data:text/javascript,' + encodeURIComponent(workerData.hooks), { data: { typescript: workerData.typescript } });
const stores = new Map();
(async () => {
  const { createSqliteStore } = await import(workerData.module);
  parentPort.on('message', async ({ id, store, method, args }) => {
    try {
      let value;
      if (method === 'open') stores.set((value = id), await createSqliteStore(args[0]));
      else value = await stores.get(store)[method](...args);
      if (method === 'close') stores.delete(store);
      parentPort.postMessage({ id, value });
    } catch (e) {
      parentPort.postMessage({ id, error: { message: String(e && e.message), kind: e && e.kind, hint: e && e.hint, code: e && e.code } });
    }
  });
  parentPort.postMessage({ ready: true });
})().catch((e) => parentPort.postMessage({ fatal: String(e && e.stack) }));
`;

interface Reply {
  id?: number;
  value?: unknown;
  error?: { message: string; kind?: ErrorKind; hint?: string; code?: string };
  ready?: boolean;
  fatal?: string;
}

type Call = (store: number, method: string, args: unknown[]) => Promise<unknown>;

// One worker per test file: loading TypeScript in it takes about 2 s, opening a store there does not.
let host: Promise<Call> | undefined;

function startHost(): Promise<Call> {
  const worker = new Worker(WORKER, {
    eval: true,
    workerData: {
      hooks: HOOKS,
      typescript: pathToFileURL(createRequire(import.meta.url).resolve('typescript')).href,
      module: pathToFileURL(path.join(ROOT, 'src/lib/store/sqlite.ts')).href,
    },
  });
  // The test run ends when its tests do, whatever this worker is doing.
  worker.unref();
  const pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  let nextId = 1;
  let failed: Error | undefined;
  const failAll = (err: Error) => {
    failed = err;
    for (const p of pending.values()) p.reject(err);
    pending.clear();
  };
  return new Promise<Call>((resolve, reject) => {
    const call: Call = (store, method, args) =>
      new Promise((res, rej) => {
        if (failed) return rej(failed);
        const id = nextId++;
        pending.set(id, { resolve: res, reject: rej });
        worker.postMessage({ id, store, method, args });
      });
    worker.on('message', (m: Reply) => {
      if (m.ready) return resolve(call);
      if (m.fatal) return reject(new Error(`store worker failed to start: ${m.fatal}`));
      const p = pending.get(m.id!);
      pending.delete(m.id!);
      if (!p) return;
      if (!m.error) return p.resolve(m.value);
      p.reject(m.error.kind ? new TollgateError(m.error.kind, m.error.message, { hint: m.error.hint }) : Object.assign(new Error(m.error.message), { code: m.error.code }));
    });
    worker.on('error', (e) => {
      reject(e);
      failAll(e);
    });
    worker.on('exit', (code) => failAll(new Error(`store worker exited (${code})`)));
  });
}

/** Opens `createSqliteStore(file)` in a worker thread; every Store method is forwarded to it. */
export async function openSqliteStoreInThread(file: string): Promise<Store> {
  host ??= startHost();
  const call = await host;
  const id = (await call(0, 'open', [file])) as number;
  return new Proxy({} as Store, {
    get: (_, method) => {
      // Not a thenable (this is returned from an async function), and no symbol lookups.
      if (typeof method !== 'string' || method === 'then') return undefined;
      return (...args: unknown[]) => call(id, method, args);
    },
  });
}
