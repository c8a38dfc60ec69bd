import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { authFailureLabel, boundedLabel, DaemonMetrics, rejectionLabel, runChecks, writableDirCheck } from '../../src/lib/diag/index.js';
import { createLogger, LogFile } from '../../src/lib/log.js';
import { systemdUnit } from '../../src/lib/install/index.js';
import type { AuditEvent } from '../../src/lib/store/index.js';

const event = (name: string, fields: Record<string, unknown>): AuditEvent => ({ id: 'x', event: name, time: 0, user: 'joe', fields });
const sample = async (m: DaemonMetrics, name: string, labels: Record<string, string> = {}) => {
  const metric = (await m.registry.getMetricsAsJSON()).find((x) => x.name === name);
  return (metric?.values as Array<{ labels: Record<string, string>; value: number }> | undefined)?.find((v) => Object.entries(labels).every(([k, l]) => v.labels[k] === l))?.value;
};

describe('metrics', () => {
  it('a session tap counts active, started, ended and bytes each way; closing twice counts once', async () => {
    const m = new DaemonMetrics({ version: '1.2.3', backend: 'sqlite' });
    const tap = m.sessionTap('shell');
    expect(await sample(m, 'tollgate_sessions_active', { kind: 'shell' })).toBe(1);
    tap.deliver([{ type: 'output', data: Buffer.alloc(10) }, { type: 'input', data: Buffer.alloc(3) }, { type: 'resize' }, { type: 'output', data: Buffer.alloc(5) }]);
    tap.close();
    tap.close();
    expect(await sample(m, 'tollgate_sessions_active', { kind: 'shell' })).toBe(0);
    expect(await sample(m, 'tollgate_sessions_started_total', { kind: 'shell' })).toBe(1);
    expect(await sample(m, 'tollgate_sessions_ended_total', { kind: 'shell' })).toBe(1);
    expect(await sample(m, 'tollgate_session_bytes_total', { direction: 'out' })).toBe(15);
    expect(await sample(m, 'tollgate_session_bytes_total', { direction: 'in' })).toBe(3);
    expect(await m.registry.metrics()).toMatch(/^tollgate_build_info\{version="1\.2\.3"\} 1$/m);
  });

  it('audit events become counters with bounded labels, never user names', async () => {
    const m = new DaemonMetrics({ version: 'v', backend: 'sqlite' });
    for (let i = 0; i < 50; i++) m.observeAudit(event('auth', { reason: `certificate does not allow "user${i}"` }));
    m.observeAudit(event('user.login', { success: false, reason: 'bad password' }));
    m.observeAudit(event('user.login', { success: true }));
    m.observeAudit(event('cert.create', { cert_type: 'user' }));
    m.observeAudit(event('session.rejected', { reason: 'the proxy may not connect to 10.0.0.1:22 (proxy_service.allowed_targets)' }));
    m.observeAudit(event('session.rejected', { reason: 'too many unauthenticated connections', count: 7 }));
    for (let i = 0; i < 40; i++) m.observeAudit(event('session.tap_dropped', { tap: `tap-${i}` }));
    expect(await sample(m, 'tollgate_failed_login_attempts_total', { kind: 'ssh', reason: 'login_not_allowed' })).toBe(50);
    expect(await sample(m, 'tollgate_failed_login_attempts_total', { kind: 'web', reason: 'bad_credentials' })).toBe(1);
    expect(await sample(m, 'tollgate_certificates_generated_total', { type: 'user' })).toBe(1);
    expect(await sample(m, 'tollgate_sessions_rejected_total', { reason: 'target_not_allowed' })).toBe(1);
    expect(await sample(m, 'tollgate_sessions_rejected_total', { reason: 'connection_limit' })).toBe(7);
    const text = await m.registry.metrics();
    expect(text).not.toMatch(/user\d/);
    expect(text.split('\n').filter((l) => l.startsWith('tollgate_session_taps_dropped_total{')).length).toBeLessThanOrEqual(17);
  });

  it('store query times and recording writes', async () => {
    const m = new DaemonMetrics({ version: 'v', backend: 'postgres', shipperBacklog: () => 4096 });
    m.observeQuery({ ms: 3, failed: false });
    m.observeQuery({ ms: 1, failed: true });
    m.observeRecordingWrite(1000, 2);
    const text = await m.registry.metrics();
    expect(text).toMatch(/^tollgate_store_query_duration_seconds_count\{backend="postgres",outcome="ok"\} 1$/m);
    expect(text).toMatch(/^tollgate_store_query_duration_seconds_count\{backend="postgres",outcome="error"\} 1$/m);
    expect(text).toMatch(/^tollgate_recording_bytes_written_total 1000$/m);
    expect(text).toMatch(/^tollgate_recording_write_lag_seconds_count 1$/m);
    expect(text).toMatch(/^tollgate_recording_upload_backlog_bytes 4096$/m);
    expect(text).toMatch(/^process_cpu_user_seconds_total /m);
  });

  it('reason labels come from a fixed set', () => {
    expect(authFailureLabel('password authentication is not accepted')).toBe('method_not_accepted');
    expect(authFailureLabel('inner certificate is for joe, the connection for bob')).toBe('inner_user_mismatch');
    expect(authFailureLabel('something new about bob')).toBe('other');
    expect(rejectionLabel('tollgate: cannot connect to root@10.1.1.1: ECONNREFUSED')).toBe('node_unreachable');
    expect(rejectionLabel('proxy shutting down')).toBe('shutting_down');
    expect(rejectionLabel(undefined)).toBe('unknown');
    const seen = new Set<string>();
    expect(boundedLabel(seen, 'a', 1)).toBe('a');
    expect(boundedLabel(seen, 'b', 1)).toBe('other');
    expect(boundedLabel(seen, 'has space')).toBe('other');
  });
});

describe('readiness', () => {
  it('names each failing check, bounds a hung one, and passes when all pass', async () => {
    const r = await runChecks(
      [
        { name: 'fine', check: () => {} },
        { name: 'broken', check: () => Promise.reject(new Error('down')) },
        { name: 'hung', check: () => new Promise(() => {}) },
      ],
      50,
    );
    expect(r).toEqual({ ready: false, checks: { fine: 'ok', broken: 'down', hung: 'no answer within 50 ms' } });
    expect((await runChecks([{ name: 'fine', check: () => {} }])).ready).toBe(true);
  });

  it('a recordings dir that is missing or has no owner write bit is not writable, even for root', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tollgate-ready-'));
    const check = writableDirCheck('recording storage', () => dir);
    await expect(check.check()).resolves.toBeUndefined();
    expect(fs.readdirSync(dir)).toEqual([]);
    fs.chmodSync(dir, 0o500);
    await expect(check.check()).rejects.toThrow(/is read-only \(mode 500\)/);
    fs.chmodSync(dir, 0o700);
    fs.rmSync(dir, { recursive: true });
    await expect(check.check()).rejects.toThrow(/ENOENT/);
  });
});

describe('logs', () => {
  it('JSON lines carry time, level, component, msg and the text line\'s fields', () => {
    const lines: string[] = [];
    const log = createLogger({ format: 'json', write: (l) => lines.push(l), now: () => new Date(0) }).child({ component: 'proxy', sid: 's1' });
    log.warn('session ended', { reason: 'exit', error: new Error('boom'), skipped: undefined });
    createLogger({ format: 'json', write: (l) => lines.push(l), now: () => new Date(0) }).info('no component');
    expect(lines.map((l) => JSON.parse(l) as unknown)).toEqual([
      { time: '1970-01-01T00:00:00.000Z', level: 'warn', component: 'proxy', msg: 'session ended', sid: 's1', reason: 'exit', error: 'boom' },
      { time: '1970-01-01T00:00:00.000Z', level: 'info', component: 'tollgate', msg: 'no component' },
    ]);
    expect(lines.every((l) => l.endsWith('}\n') && !l.slice(0, -1).includes('\n'))).toBe(true);
  });

  it('a log file is reopened at its path after rotation (SIGUSR1)', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tollgate-log-'));
    const file = path.join(dir, 'teleport.log');
    const f = new LogFile(file);
    f.write('one\n');
    fs.renameSync(file, `${file}.1`);
    f.write('two\n');
    f.reopen();
    f.write('three\n');
    f.close();
    expect(fs.readFileSync(`${file}.1`, 'utf8')).toBe('one\ntwo\n');
    expect(fs.readFileSync(file, 'utf8')).toBe('three\n');
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
    fs.rmSync(dir, { recursive: true });
  });
});

describe('systemd unit', () => {
  it('names config and data dir, allows writes only there, and refuses paths systemd would misread', () => {
    const unit = systemdUnit({ node: '/usr/bin/node', bin: '/opt/tollgate/bin/teleport', configFile: '/etc/teleport.yaml', dataDir: '/srv/tg', drainTimeoutMs: 30_000, logFile: '/var/log/tollgate/teleport.log' });
    expect(unit).toMatch(/^ExecStart=\/usr\/bin\/node \/opt\/tollgate\/bin\/teleport start -c \/etc\/teleport\.yaml --data-dir \/srv\/tg$/m);
    expect(unit).toMatch(/^ReadWritePaths=\/srv\/tg \/var\/log\/tollgate$/m);
    expect(unit).not.toMatch(/StateDirectory/);
    expect(unit).not.toMatch(/MemoryDenyWriteExecute/);
    expect(() => systemdUnit({ node: '/usr/bin/node', bin: '/b', configFile: 'rel.yaml', dataDir: '/d', drainTimeoutMs: 0 })).toThrow(/absolute path/);
    expect(() => systemdUnit({ node: '/usr/bin/node', bin: '/b', configFile: '/c', dataDir: '/d%i', drainTimeoutMs: 0 })).toThrow(/cannot take unescaped/);
  });
});
