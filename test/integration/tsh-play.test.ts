import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT, tmpDir } from '../helpers/proc.js';
import { shq, TmuxSession } from '../helpers/tmux.js';

/** tsh play in a real terminal: timing at --speed, and the terminal restored on every way out. */
describe('tsh play in a terminal', () => {
  let dir: string;
  let short: string;
  let long: string;

  const cast = (file: string, seconds: number) => {
    const events = Array.from({ length: seconds + 1 }, (_, i) => JSON.stringify([i, 'o', `tick-${i}\r\n`]));
    fs.writeFileSync(file, [JSON.stringify({ version: 2, width: 80, height: 24, timestamp: 0 }), ...events, ''].join('\n'));
  };

  beforeAll(() => {
    dir = tmpDir('tollgate-play-');
    short = path.join(dir, 'short.cast');
    long = path.join(dir, 'long.cast');
    cast(short, 4);
    cast(long, 60);
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  /** Runs `inner` in tmux between two `stty -g` snapshots; the pane shows both and the elapsed ms. */
  const session = (inner: string) =>
    TmuxSession.start(
      `cd ${shq(ROOT)} && B=$(stty -g); S=$(date +%s%N); ${inner}; E=$(date +%s%N); A=$(stty -g); echo; echo "ELAPSED=$(( (E-S)/1000000 ))"; [ "$A" = "$B" ] && echo STTY=same || echo STTY=changed`,
    );

  it('--speed=4 takes about a quarter of the recorded time and restores the terminal at the end', async () => {
    const t = await session(`${shq(process.execPath)} bin/tsh play ${shq(short)} --speed=4`);
    try {
      const screen = await t.waitFor(/STTY=\w+/, 20_000);
      expect(screen).toContain('tick-4');
      const ms = Number(/ELAPSED=(\d+)/.exec(screen)![1]);
      // 4 s recorded → 1 s at speed 4, plus start-up; generous bounds, measured precisely in no test.
      expect(ms).toBeGreaterThan(900);
      expect(ms).toBeLessThan(3500);
      expect(screen).toContain('STTY=same');
    } finally {
      await t.kill();
    }
  });

  it('q quits at once and restores the terminal', async () => {
    const t = await session(`${shq(process.execPath)} bin/tsh play ${shq(long)}`);
    try {
      await t.waitFor('tick-1');
      await t.send('q');
      const screen = await t.waitFor(/STTY=\w+/, 10_000);
      expect(screen).not.toContain('tick-5');
      expect(screen).toContain('STTY=same');
    } finally {
      await t.kill();
    }
  });

  it('SIGINT stops playback and restores the terminal', async () => {
    const t = await session(`timeout --foreground -s INT 2 ${shq(process.execPath)} bin/tsh play ${shq(long)}`);
    try {
      const screen = await t.waitFor(/STTY=\w+/, 15_000);
      expect(screen).not.toContain('tick-5');
      expect(screen).toContain('STTY=same');
    } finally {
      await t.kill();
    }
  });
});
