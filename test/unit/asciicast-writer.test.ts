import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { AsciicastWriter } from '../../src/lib/recording/asciicast-writer.js';

const tmp = () => path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'tollgate-cast-')), 'x.cast');
const lines = (f: string) => fs.readFileSync(f, 'utf8').trimEnd().split('\n').map((l) => JSON.parse(l) as unknown);

describe('AsciicastWriter', () => {
  it('writes a v2 header and o/r/m events with times, file 0600', async () => {
    let t = 1_000_000;
    const f = tmp();
    const w = new AsciicastWriter(f, { width: 80, height: 24, timestamp: 1700000000, env: { TERM: 'xterm' } }, { now: () => t });
    t += 1500;
    w.output(Buffer.from('hello\r\n'));
    t += 250;
    w.resize(100, 30);
    w.marker('note');
    const totals = await w.close();
    const [head, ...events] = lines(f);
    expect(head).toEqual({ version: 2, width: 80, height: 24, timestamp: 1700000000, env: { TERM: 'xterm' } });
    expect(events).toEqual([[1.5, 'o', 'hello\r\n'], [1.75, 'r', '100x30'], [1.75, 'm', 'note']]);
    expect(totals.out).toEqual({ bytes: 7, sha256: crypto.createHash('sha256').update('hello\r\n').digest('hex') });
    expect(fs.statSync(f).mode & 0o777).toBe(0o600);
  });

  it('keeps UTF-8 characters split across chunks whole', async () => {
    const f = tmp();
    const w = new AsciicastWriter(f, { width: 80, height: 24, timestamp: 0 });
    const euro = Buffer.from('€');
    w.output(euro.subarray(0, 1));
    w.output(Buffer.concat([euro.subarray(1), Buffer.from('!')]));
    await w.close();
    const text = lines(f).slice(1).map((e) => (e as [number, string, string])[2]).join('');
    expect(text).toBe('€!');
  });

  it('records input only when asked, but always counts it', async () => {
    const f = tmp();
    const w = new AsciicastWriter(f, { width: 80, height: 24, timestamp: 0 });
    w.input(Buffer.from('secret'));
    expect((await w.close()).in.bytes).toBe(6);
    expect(fs.readFileSync(f, 'utf8')).not.toContain('secret');
    const g = tmp();
    const w2 = new AsciicastWriter(g, { width: 80, height: 24, timestamp: 0 }, { recordInput: true });
    w2.input(Buffer.from('ls\r'));
    await w2.close();
    expect(lines(g)[1]).toEqual([expect.any(Number), 'i', 'ls\r']);
  });

  it('at the output limit records everything it was given, marks the spot and calls onLimit once', async () => {
    const f = tmp();
    const limits: number[] = [];
    const w = new AsciicastWriter(f, { width: 80, height: 24, timestamp: 0 }, { maxOutputBytes: 10, onLimit: (n) => limits.push(n) });
    w.output(Buffer.from('0123456789abcdef'));
    w.output(Buffer.from('ghij'));
    const totals = await w.close();
    expect(totals.out.bytes).toBe(20);
    expect(limits).toEqual([10]);
    const events = lines(f).slice(1) as [number, string, string][];
    expect(events.map((e) => e[1])).toEqual(['o', 'm', 'o']);
    expect(events[0]![2] + events[2]![2]).toBe('0123456789abcdefghij');
    expect(events[1]![2]).toMatch(/max_exec_recording_size \(10\); the session is ended/);
  });

  it('flushes on its own so a crash loses at most the flush interval', async () => {
    const f = tmp();
    const w = new AsciicastWriter(f, { width: 80, height: 24, timestamp: 0 }, { flushIntervalMs: 50 });
    w.output(Buffer.from('early'));
    await new Promise((r) => setTimeout(r, 200));
    expect(fs.readFileSync(f, 'utf8')).toContain('early');
    await w.close();
  });
});

describe('binary output and backpressure', () => {
  it('binary reads flush by size: a paused source is woken by the writes, not by the flush timer', async () => {
    const f = tmp();
    // A flush timer that never fires in this test: only size-driven flushes can drain the queue.
    const w = new AsciicastWriter(f, { width: 80, height: 24, timestamp: 0 }, { flushIntervalMs: 3_600_000, highWaterBytes: 4 * 1024 * 1024 });
    const zeros = Buffer.alloc(32 * 1024);
    let paused = 0;
    for (let i = 0; i < 1024; i++) {
      if (!w.output(zeros)) {
        paused++;
        await new Promise<void>((resolve, reject) => {
          const t = setTimeout(() => reject(new Error('the writer never drained (binary waited for the timer)')), 5_000);
          w.onceDrained(() => {
            clearTimeout(t);
            resolve();
          });
        });
      }
    }
    const totals = await w.close();
    expect(paused).toBeGreaterThan(0);
    expect(totals.out.bytes).toBe(32 * 1024 * 1024);
    expect(totals.out.sha256).toBe(crypto.createHash('sha256').update(Buffer.alloc(32 * 1024 * 1024)).digest('hex'));
    expect(fs.statSync(`${f}.bin`).size).toBeLessThan(1024 * 1024);
  }, 30_000);
});
