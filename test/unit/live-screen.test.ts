import { describe, expect, it } from 'vitest';
import { TerminalScreen } from '../../src/lib/proxy/live/screen.js';

describe('TerminalScreen', () => {
  it('keeps the current screen: line editing and clears resolve to what a terminal shows', async () => {
    const s = new TerminalScreen(40, 5);
    s.output(Buffer.from('echo needle-$((40+2X\b \b))\r\nneedle-42\r\n'));
    expect((await s.text()).slice(0, 2)).toEqual(['echo needle-$((40+2))', 'needle-42']);
    s.output(Buffer.from('\u001b[2J\u001b[Hafter-clear'));
    const snap = await s.snapshot();
    expect(snap).toMatchObject({ cols: 40, rows: 5 });
    expect(snap.paint).toContain('after-clear');
    expect(snap.paint).not.toContain('needle');
    s.dispose();
  });

  it('applies resizes in order with the output', async () => {
    const s = new TerminalScreen(40, 5);
    s.output(Buffer.from('a'));
    s.resize(100, 30);
    s.output(Buffer.from('b'));
    expect(await s.snapshot()).toMatchObject({ cols: 100, rows: 30 });
    s.dispose();
  });

  it('paints the screen after 50 MB of output in well under a second (skips ahead when behind)', async () => {
    const s = new TerminalScreen(80, 24);
    const chunk = Buffer.from('counter 123456 some text here lorem ipsum dolor sit amet\r\n'.repeat(550));
    const t0 = performance.now();
    let total = 0;
    for (let i = 1; total < 50e6; i++) {
      s.output(chunk);
      total += chunk.length;
      if (i % 50 === 0) await new Promise((r) => setImmediate(r));
    }
    s.output(Buffer.from('FINAL-LINE\r\n'));
    const fed = performance.now() - t0;
    const t1 = performance.now();
    const snap = await s.snapshot();
    const paintMs = performance.now() - t1;
    expect(snap.paint).toContain('FINAL-LINE');
    expect((await s.text()).filter((l) => l.startsWith('counter 123456')).length).toBeGreaterThan(20);
    expect(paintMs).toBeLessThan(1000);
    expect(s.skipped).toBeGreaterThan(0);
    console.log(`fed 50 MB in ${fed.toFixed(0)} ms; snapshot ${paintMs.toFixed(0)} ms; skipped ${s.skipped} bytes`);
    s.dispose();
  });
});
