import v8 from 'node:v8';
import vm from 'node:vm';
import { expect, it } from 'vitest';
import { ScreenLines } from '../../src/lib/search/screen-lines.js';

/*
 * Issue 19: the daemon's RSS per streaming PTY session was 16 MiB and growing, 11 MiB of it the
 * search indexer's terminal emulator, whose 5000-row scrollback xterm keeps allocated once it
 * has filled. What one emulator holds after streaming text must stay small.
 */
v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;
const held = () => {
  gc();
  gc();
  const m = process.memoryUsage();
  return (m.heapUsed + m.arrayBuffers) / 2 ** 20;
};

it('a streaming session’s screen emulator holds little memory, and every line is still taken', async () => {
  const N = 5;
  const chunk = Buffer.from('tollgate-streaming-text\r\n'.repeat(683));
  const before = held();
  let lines = 0;
  const screens = Array.from({ length: N }, () => new ScreenLines({ cols: 80, rows: 24, onLine: () => lines++ }));
  for (let k = 0; k < 48; k++) {
    for (const s of screens) s.output(chunk, k);
    await Promise.all(screens.map((s) => s.flush()));
  }
  const per = (held() - before) / N;
  expect(lines).toBe(N * (48 * 683 - 23));
  // 11 MiB with a 5000-row scrollback; about 1.4 MiB with DEFAULT_SCROLLBACK (512).
  expect(per).toBeLessThan(4);
  for (const s of screens) s.dispose();
}, 60_000);
