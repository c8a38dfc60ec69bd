import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { localRecordingChunks } from '../../src/lib/cluster/index.js';
import { DaemonMetrics } from '../../src/lib/diag/index.js';

describe('DaemonMetrics.text: the primary and its SSH workers', () => {
  it('sums counters and gauges over the processes, keeps build_info at 1', async () => {
    const primary = new DaemonMetrics({ version: '9.9.9', backend: 'sqlite' });
    const workers = [new DaemonMetrics({ version: '9.9.9', backend: 'sqlite' }), new DaemonMetrics({ version: '9.9.9', backend: 'sqlite' })];
    primary.sessionTap('shell');
    const a = workers[0]!.sessionTap('exec');
    a.deliver([{ type: 'output', data: Buffer.alloc(100) }]);
    workers[1]!.sessionTap('exec').deliver([{ type: 'output', data: Buffer.alloc(50) }]);
    a.close();
    const text = await primary.text(await Promise.all(workers.map((w) => w.registry.getMetricsAsJSON())));
    const value = (series: string) => Number(text.split('\n').find((l) => l.startsWith(`${series} `))?.split(' ')[1]);
    expect(value('tollgate_sessions_started_total{kind="exec"}')).toBe(2);
    expect(value('tollgate_sessions_started_total{kind="shell"}')).toBe(1);
    expect(value('tollgate_sessions_active{kind="exec"}')).toBe(1);
    expect(value('tollgate_session_bytes_total{direction="out"}')).toBe(150);
    expect(value('tollgate_build_info{version="9.9.9"}')).toBe(1);
  });
});

describe('localRecordingChunks: a sibling worker\'s running recording', () => {
  it('hands out whole lines only, from any offset, as contiguous chunks', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tollgate-chunks-'));
    const file = path.join(dir, 'x.cast');
    const lines = ['{"version":2}\n', ...Array.from({ length: 5000 }, (_, i) => `[${i}, "o", "line ${i} ${'x'.repeat(40)}"]\n`)];
    fs.writeFileSync(file, `${lines.join('')}[5000, "o", "half`);
    const source = localRecordingChunks(() => file);
    const whole = Buffer.byteLength(lines.join(''));
    let offset = 0;
    let text = '';
    for (;;) {
      const chunks = await source.readRecordingChunks('id', 'cast', offset, 2);
      if (chunks.length === 0) break;
      for (const c of chunks) {
        expect(c.offset).toBe(offset);
        offset += c.data.length;
        text += c.data.toString();
      }
    }
    expect(offset).toBe(whole);
    expect(text).toBe(lines.join(''));
    expect(await localRecordingChunks(() => path.join(dir, 'missing.cast')).readRecordingChunks('id', 'cast', 0, 1)).toEqual([]);
    fs.rmSync(dir, { recursive: true, force: true });
  });
});
