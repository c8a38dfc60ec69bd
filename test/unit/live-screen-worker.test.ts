import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { nullLogger } from '../../src/lib/log.js';
import type { LiveScreen, Viewer } from '../../src/lib/proxy/live/index.js';
import { ROOT } from '../helpers/proc.js';

// The worker script exists only in the build (npm test builds first), so this runs dist/.
const built = () => import(pathToFileURL(path.join(ROOT, 'dist/lib/proxy/live/index.js')).href) as Promise<typeof import('../../src/lib/proxy/live/index.js')>;

/** Output with colours, cursor moves, line editing and a resize between the right bytes. */
function script(s: LiveScreen): void {
  s.output(Buffer.from('$ ls --color\r\n\u001b[1;34mbin\u001b[0m  \u001b[32mrun.sh\u001b[0m  notes.txt\r\n$ '));
  s.output(Buffer.from('echo needle-$((40+2X\b \b))\r\nneedle-42\r\n$ '));
  s.resize(100, 30);
  s.output(Buffer.from('\u001b[5;10H\u001b[7mreverse\u001b[0m at 5,10\u001b[12;1H'));
  s.resize(60, 20);
  s.output(Buffer.from('after the last resize: é ✓ 漢字\r\n$ '));
}

describe('the live screen in a worker thread', () => {
  it('paints what the in-thread TerminalScreen paints for the same output and resizes', async () => {
    const { createLiveScreenWorker, inThreadLiveScreens } = await built();
    const worker = createLiveScreenWorker(nullLogger);
    expect(worker.screens).not.toBe(inThreadLiveScreens);
    try {
      const opts = { cols: 80, rows: 24, onLost: () => {} };
      const here = inThreadLiveScreens(opts);
      const there = worker.screens(opts);
      script(here);
      script(there);
      const want = await here.snapshot();
      expect(want).toMatchObject({ cols: 60, rows: 20 });
      expect(want.paint).toContain('needle-42');
      expect(await there.snapshot()).toEqual(want);
      here.dispose();
      there.dispose();
    } finally {
      await worker.close();
    }
  });

  it('skips ahead when the backlog is exceeded, and the paint shows the end of the output at once', async () => {
    const { createLiveScreenWorker } = await built();
    const worker = createLiveScreenWorker(nullLogger);
    try {
      const s = worker.screens({ cols: 80, rows: 24, onLost: () => {} });
      const chunk = Buffer.from('counter 123456 some text here lorem ipsum dolor sit amet\r\n'.repeat(550));
      let total = 0;
      // Fed synchronously, far past the backlog, before the worker can take any of it.
      for (let i = 0; total < 8e6; i++) {
        s.output(chunk);
        total += chunk.length;
      }
      expect(s.skipped).toBeGreaterThan(4e6);
      for (let i = 1; total < 50e6; i++) {
        s.output(chunk);
        total += chunk.length;
        if (i % 50 === 0) await new Promise((r) => setImmediate(r));
      }
      s.output(Buffer.from('FINAL-LINE\r\n'));
      const t0 = performance.now();
      const snap = await s.snapshot();
      const paintMs = performance.now() - t0;
      expect(snap.paint).toContain('FINAL-LINE');
      expect(snap.paint.split('counter 123456').length).toBeGreaterThan(20);
      expect(paintMs).toBeLessThan(1000);
      console.log(`worker: 50 MB fed, snapshot ${paintMs.toFixed(0)} ms, skipped ${s.skipped} bytes`);
      s.dispose();
    } finally {
      await worker.close();
    }
  });

  it('a worker that dies ends the live view of its sessions with a line; the next session gets a new worker', async () => {
    const { createLiveScreenWorker, LiveSessions } = await built();
    const worker = createLiveScreenWorker(nullLogger);
    try {
      const live = new LiveSessions({ log: nullLogger, now: () => 1000, maxViewers: 4, screens: worker.screens });
      const s = live.begin({ id: 'sid', user: 'joe', login: 'root', node: 'n:22', kind: 'shell', startedAt: 0, pty: { cols: 80, rows: 24 } });
      s.started({ stop: () => {}, input: () => {}, notify: () => {} });
      s.deliver([{ type: 'output', data: Buffer.from('before\r\n') }]);
      const got: string[] = [];
      let ended: string | undefined;
      const v: Viewer = { user: 'joe', mode: 'observer', paint: (p) => got.push(p.paint), event: () => {}, status: () => {}, end: (line) => (ended = line) };
      const joined = await s.attach(v);
      expect(typeof joined).toBe('object');
      expect(got[0]).toContain('before');
      const first = worker.thread;
      await first?.terminate();
      await new Promise((r) => setImmediate(r));
      expect(ended).toMatch(/live view lost \(the live screen worker exited.*the session goes on/);
      expect(s.ended).toBe(false);
      // The session goes on (deliver does not throw); joining it again is refused with the reason.
      s.deliver([{ type: 'output', data: Buffer.from('more\r\n') }]);
      expect(await s.attach({ ...v, end: () => {} })).toMatch(/live view lost/);
      // A new session starts a new worker and is painted from it.
      const s2 = live.begin({ id: 'sid2', user: 'joe', login: 'root', node: 'n:22', kind: 'shell', startedAt: 0, pty: { cols: 80, rows: 24 } });
      expect(worker.thread).toBeDefined();
      expect(worker.thread).not.toBe(first);
      s2.deliver([{ type: 'output', data: Buffer.from('second session\r\n') }]);
      const got2: string[] = [];
      expect(typeof (await s2.attach({ ...v, paint: (p) => got2.push(p.paint) }))).toBe('object');
      expect(got2[0]).toContain('second session');
      s.close({ exitStatus: 0, exitSignal: null, reason: 'exit' });
      s2.close({ exitStatus: 0, exitSignal: null, reason: 'exit' });
    } finally {
      await worker.close();
    }
  });
});
