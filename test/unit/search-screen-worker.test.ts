import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { nullLogger } from '../../src/lib/log.js';
import type { ScreenCommand, ScreenLine } from '../../src/lib/search/index.js';
import { ROOT } from '../helpers/proc.js';

// The worker script exists in the build (npm test builds first), so this runs dist/.
const built = () => import(pathToFileURL(path.join(ROOT, 'dist/lib/search/index.js')).href) as Promise<typeof import('../../src/lib/search/index.js')>;

describe('terminal emulation in the worker thread', () => {
  it('gives the lines and commands the in-thread emulator gives, for two sessions at once', async () => {
    const { createScreenWorker, inThreadScreens } = await built();
    const worker = createScreenWorker(nullLogger);
    expect(worker.screens).not.toBe(inThreadScreens);
    try {
      const run = async (screens: typeof inThreadScreens, tag: string) => {
        const lines: ScreenLine[] = [];
        const commands: ScreenCommand[] = [];
        const s = screens({ cols: 80, rows: 24, onLine: (l) => lines.push(l), onCommand: (c) => commands.push(c) });
        s.output(Buffer.from('$ '), 0);
        let t = 100;
        for (const k of `echo ${tag}-$((40+2X\x7f))\r`) {
          s.input(Buffer.from(k), t);
          s.output(Buffer.from(k === '\x7f' ? '\b \b' : k === '\r' ? '\r\n' : k), t);
          t += 10;
        }
        s.output(Buffer.from(`${tag}-42\r\n$ `), 1000);
        await s.flush();
        await s.end(2000);
        return { lines, commands };
      };
      const [a, b] = await Promise.all([run(worker.screens, 'alpha'), run(worker.screens, 'beta')]);
      expect(a).toEqual(await run(inThreadScreens, 'alpha'));
      expect(b).toEqual(await run(inThreadScreens, 'beta'));
      expect(a.commands.map((c) => c.command)).toEqual(['echo alpha-$((40+2))']);
      expect(b.lines.map((l) => l.text)).toContain('beta-42');
    } finally {
      await worker.close();
    }
  });

  it('a closed worker fails what was waiting on it instead of hanging', async () => {
    const { createScreenWorker } = await built();
    const worker = createScreenWorker(nullLogger);
    const s = worker.screens({ cols: 80, rows: 24, onLine: () => {} });
    s.output(Buffer.from('x'), 0);
    const flushed = expect(s.flush()).rejects.toThrow(/stopping/);
    await worker.close();
    await flushed;
  });
});
