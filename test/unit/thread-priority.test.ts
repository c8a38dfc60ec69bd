import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';

// The built module, in a thread of its own: lowering the test runner's own thread would slow
// whatever else runs in it.
const built = pathToFileURL(path.resolve(import.meta.dirname, '../../dist/lib/thread-priority.js')).href;

describe('lowerThreadPriority', () => {
  it('lowers only the calling thread (the search index writer), not the daemon\'s other threads', async () => {
    const before = os.getPriority();
    const w = new Worker(
      `const { parentPort } = require('node:worker_threads');
       const os = require('node:os');
       import(${JSON.stringify(built)}).then(({ lowerThreadPriority }) => {
         const ok = lowerThreadPriority(10);
         const tid = Number(require('node:fs').readlinkSync('/proc/thread-self').split('/').pop());
         parentPort.postMessage({ ok, mine: os.getPriority(tid) });
       });`,
      { eval: true },
    );
    const r = await new Promise<{ ok: boolean; mine: number }>((resolve, reject) => {
      w.once('message', resolve);
      w.once('error', reject);
    });
    await w.terminate();
    expect(r).toEqual({ ok: true, mine: Math.max(10, before) });
    expect(os.getPriority()).toBe(before);
  });
});
