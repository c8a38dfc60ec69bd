import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/lib/config/index.js';
import { errorOf } from '../helpers/errors.js';
import { planReload, describeReload } from '../../src/lib/reload.js';

const load = (yaml: string, extra: Parameters<typeof loadConfig>[0] = {}) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tollgate-cfg-'));
  const file = path.join(dir, 'teleport.yaml');
  fs.writeFileSync(file, yaml);
  return loadConfig({ configFile: file, hostname: 'box', systemConfigFile: '/nonexistent', dataDir: dir, ...extra });
};


describe('operations config keys', () => {
  it('defaults: no diag_addr, text logs on stderr, 30s drain', () => {
    const c = load('');
    expect(c).toMatchObject({ diagAddr: undefined, logFormat: 'text', logOutput: 'stderr', logFile: undefined, drainTimeoutMs: 30_000 });
  });

  it('diag_addr, drain_timeout, log.format (tollgate and Teleport spellings) and a log file relative to the config', () => {
    const c = load('teleport:\n  diag_addr: 127.0.0.1:3000\n  drain_timeout: 2m\n  log:\n    output: logs/teleport.log\n    format: json\n');
    expect(c.diagAddr).toEqual({ host: '127.0.0.1', port: 3000 });
    expect(c.drainTimeoutMs).toBe(120_000);
    expect(c.logFormat).toBe('json');
    expect(c.logOutput).toBe('file');
    expect(c.logFile).toBe(path.join(path.dirname(c.file!), 'logs/teleport.log'));
    expect(load('teleport:\n  log:\n    format:\n      output: json\n').logFormat).toBe('json');
    expect(load('teleport:\n  drain_timeout: 0s\n').drainTimeoutMs).toBe(0);
    expect(load('teleport:\n  log:\n    output: stdout\n').logOutput).toBe('stdout');
  });

  it('--diag-addr wins over the file', () => {
    expect(load('teleport:\n  diag_addr: 127.0.0.1:3000\n', { diagAddr: '127.0.0.1:4000' }).diagAddr).toEqual({ host: '127.0.0.1', port: 4000 });
  });

  it.each([
    ['teleport:\n  diag_addr: nowhere\n', /teleport\.diag_addr/],
    ['teleport:\n  drain_timeout: 30\n', /teleport\.drain_timeout: must be a duration with a unit/],
    ['teleport:\n  drain_timeout: soon\n', /"soon" is not a duration/],
    ['teleport:\n  log:\n    format: xml\n', /teleport\.log\.format: must be text or json/],
    ['teleport:\n  log:\n    format:\n      output: json\n      extra_fields: [caller]\n', /unknown key "teleport\.log\.format\.extra_fields"/],
    ['teleport:\n  log:\n    output: syslog\n', /syslog is not supported/],
  ])('refuses %j with a line that names the key', (yaml, message) => {
    const e = errorOf(() => load(yaml));
    expect(e.message).toMatch(message);
    expect(e.message).toMatch(/teleport\.yaml:\d+: /);
    expect(e.hint).toBeTruthy();
  });

  it('refuses a bad --diag-addr with a hint', () => {
    const e = errorOf(() => load('', { diagAddr: 'x:99999' }));
    expect(e.message).toMatch(/^--diag-addr: /);
    expect(e.hint).toMatch(/HOST:PORT/);
  });
});

describe('reload plan (SIGHUP)', () => {
  const base = 'auth_service:\n  cluster_name: a.test\nproxy_service:\n  listen_addr: 127.0.0.1:3023\n';
  it('applies log level, allowed_targets and drain_timeout; everything else needs a restart, named as in teleport.yaml', () => {
    const running = load(base);
    const next = load(`teleport:\n  drain_timeout: 5s\n  log:\n    severity: DEBUG\n    format: json\nauth_service:\n  cluster_name: b.test\n  client_idle_timeout: 5m\nproxy_service:\n  listen_addr: 127.0.0.1:3024\n  allowed_targets: ['10.0.0.0/8']\n`, { dataDir: running.dataDir });
    const plan = planReload(running, { ...next, file: running.file });
    expect(plan).toMatchObject({ logLevel: true, allowedTargets: true, drainTimeout: true });
    expect(plan.restart).toEqual(['auth_service.client_idle_timeout', 'auth_service.cluster_name', 'proxy_service.listen_addr', 'teleport.log.format']);
    expect(describeReload({ reloaded: [], restart: [] })).toEqual({ reloaded: 'nothing changed that can be reloaded', needs_restart: 'nothing' });
  });

  it('an unchanged config changes nothing', () => {
    const a = load(base);
    expect(planReload(a, a)).toEqual({ logLevel: false, allowedTargets: false, drainTimeout: false, restart: [] });
  });
});
