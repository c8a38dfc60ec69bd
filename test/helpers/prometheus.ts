import fs from 'node:fs';
import path from 'node:path';
import { Background, freePort, spawnBackground, tmpDir, waitFor } from './proc.js';

/** Debian's prometheus package (scripts/ensure-test-deps.sh installs it). */
export const PROMETHEUS = '/usr/bin/prometheus';

export interface TestPrometheus {
  port: number;
  process: Background;
  /** An instant query through the HTTP API: each series' labels and value. */
  query(expr: string): Promise<Array<{ metric: Record<string, string>; value: number }>>;
  /** The single value of `expr`, or undefined while it has no series. */
  value(expr: string): Promise<number | undefined>;
  stop(): Promise<void>;
}

/**
 * A real Prometheus on a free loopback port with its own temp config and TSDB, scraping `target`
 * (host:port of a diag_addr) every second as job "tollgate".
 */
export async function startPrometheus(target: string): Promise<TestPrometheus> {
  const dir = tmpDir('tollgate-prometheus-');
  const port = await freePort();
  const config = path.join(dir, 'prometheus.yml');
  fs.writeFileSync(
    config,
    ['global:', '  scrape_interval: 1s', '  evaluation_interval: 1s', 'scrape_configs:', '  - job_name: tollgate', '    scrape_interval: 1s', '    scrape_timeout: 900ms', '    static_configs:', `      - targets: ['${target}']`, ''].join('\n'),
  );
  const proc = spawnBackground(PROMETHEUS, [`--config.file=${config}`, `--storage.tsdb.path=${path.join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${port}`, '--log.level=warn'], { cwd: dir });
  const base = `http://127.0.0.1:${port}`;
  const stop = async () => {
    await proc.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  };
  try {
    await waitFor(
      async () => {
        if (!proc.running) throw new Error(`prometheus exited (${proc.exitCode}):\n${proc.output}`);
        return (await fetch(`${base}/-/ready`).catch(() => undefined))?.status === 200;
      },
      'prometheus to be ready',
      30_000,
    );
  } catch (err) {
    await stop();
    throw err;
  }
  const query = async (expr: string) => {
    const res = await fetch(`${base}/api/v1/query?query=${encodeURIComponent(expr)}`);
    const body = (await res.json()) as { status: string; error?: string; data?: { result: Array<{ metric: Record<string, string>; value: [number, string] }> } };
    if (body.status !== 'success') throw new Error(`prometheus query ${expr}: ${body.error}`);
    return body.data!.result.map((r) => ({ metric: r.metric, value: Number(r.value[1]) }));
  };
  return {
    port,
    process: proc,
    query,
    value: async (expr) => (await query(expr))[0]?.value,
    stop,
  };
}
