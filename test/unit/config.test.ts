import fs from 'node:fs';
import path from 'node:path';
import os from 'node:os';
import { describe, expect, it } from 'vitest';
import { loadConfig, parseConfigText } from '../../src/lib/config/index.js';
import { errorOf } from '../helpers/errors.js';


const load = (yaml: string, extra: Parameters<typeof loadConfig>[0] = {}) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tollgate-cfg-'));
  const file = path.join(dir, 'teleport.yaml');
  fs.writeFileSync(file, yaml);
  return loadConfig({ configFile: file, hostname: 'box', systemConfigFile: '/nonexistent', ...extra });
};

describe('config', () => {
  it('embedded defaults: Teleport ports, otp, 30h max TTL, recording at the proxy', () => {
    const c = loadConfig({ systemConfigFile: '/nonexistent', hostname: 'box', dataDir: '/tmp/x' });
    expect(c.file).toBeUndefined();
    expect(c.proxy.listenAddr).toEqual({ host: '0.0.0.0', port: 3023 });
    expect(c.proxy.webListenAddr).toEqual({ host: '0.0.0.0', port: 3080 });
    expect(c.proxy.publicWebAddr).toEqual({ host: 'box', port: 3080 });
    expect(c.auth.secondFactor).toBe('otp');
    expect(c.auth.sessionRecording).toBe('proxy');
    expect(c.auth.maxSessionTtlMs).toBe(30 * 3_600_000);
    expect(c.auth.clusterName).toBe('box');
    expect(c.auth.enabled && c.proxy.enabled).toBe(true);
    expect(Object.isFrozen(c.auth)).toBe(true);
  });

  it('reads /etc/teleport.yaml (the system config) when no -c is given', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tollgate-cfg-'));
    const sys = path.join(dir, 'teleport.yaml');
    fs.writeFileSync(sys, 'auth_service:\n  cluster_name: sys.example\n');
    const c = loadConfig({ systemConfigFile: sys, dataDir: dir });
    expect(c.file).toBe(sys);
    expect(c.auth.clusterName).toBe('sys.example');
  });

  it('takes YAML 1.1 booleans as Teleport examples write them', () => {
    const c = load(
      [
        'teleport:',
        '  data_dir: /tmp/tg',
        'auth_service:',
        '  enabled: yes',
        '  session_recording: off',
        '  proxy_checks_host_keys: no',
        '  authentication:',
        '    type: local',
        '    second_factor: off',
        'proxy_service:',
        '  enabled: on',
        '  public_addr: proxy.example.com',
        'ssh_service:',
        '  enabled: no',
      ].join('\n'),
    );
    expect(c.auth.sessionRecording).toBe('off');
    expect(c.auth.proxyChecksHostKeys).toBe(false);
    expect(c.auth.secondFactor).toBe('off');
    expect(c.proxy.enabled).toBe(true);
    expect(c.proxy.publicWebAddr).toEqual({ host: 'proxy.example.com', port: 3080 });
    expect(c.dataDir).toBe('/tmp/tg');
    expect(c.dataDirSource).toBe('config');
  });

  it('--roles overrides the enabled keys; --data-dir overrides data_dir', () => {
    const c = load('teleport:\n  data_dir: /tmp/a\nproxy_service:\n  enabled: no\n', { roles: ['auth', 'proxy'], dataDir: '/tmp/b' });
    expect(c.proxy.enabled).toBe(true);
    expect(c.dataDir).toBe('/tmp/b');
    expect(c.dataDirSource).toBe('flag');
  });

  it('parses durations, sizes, addresses and CIDRs', () => {
    const c = load(
      [
        'auth_service:',
        '  max_session_ttl: 12h30m',
        '  client_idle_timeout: 15m',
        '  max_exec_recording_size: 8MiB',
        '  cert_source_addresses: [10.0.0.5/32, "fd00::/64"]',
        'proxy_service:',
        '  listen_addr: "[::1]:4023"',
        '  upstream_bind_addr: 10.0.0.5',
        '  allowed_targets: [10.0.0.0/8, "10.1.0.0/16:22", "*:22"]',
      ].join('\n'),
    );
    expect(c.auth.maxSessionTtlMs).toBe(12.5 * 3_600_000);
    expect(c.auth.clientIdleTimeoutMs).toBe(15 * 60_000);
    expect(c.auth.maxExecRecordingSize).toBe(8 * 1024 * 1024);
    expect(c.auth.certSourceAddresses).toEqual(['10.0.0.5/32', 'fd00::/64']);
    expect(c.proxy.listenAddr).toEqual({ host: '::1', port: 4023 });
  });

  it('max_exec_recording_size: unlimited by default; unlimited and 0 both mean no limit', () => {
    expect(load('auth_service:\n  enabled: yes\n').auth.maxExecRecordingSize).toBe(0);
    expect(load('auth_service:\n  max_exec_recording_size: unlimited\n').auth.maxExecRecordingSize).toBe(0);
    expect(load('auth_service:\n  max_exec_recording_size: 0\n').auth.maxExecRecordingSize).toBe(0);
    expect(load('auth_service:\n  max_exec_recording_size: 1MiB\n').auth.maxExecRecordingSize).toBe(1024 * 1024);
    expect(() => load('auth_service:\n  max_exec_recording_size: lots\n')).toThrow(/max_exec_recording_size/);
  });

  it('unknown key: file, line and key, with a suggestion', () => {
    const e = errorOf(() => parseConfigText('teleport:\n  data_dir: /x\nauth_service:\n  cluster_nme: foo\n', '/etc/t.yaml'));
    expect(e.message).toBe('/etc/t.yaml:4: unknown key "auth_service.cluster_nme" (did you mean "cluster_name"?)');
    expect(e.kind).toBe('bad-parameter');
  });

  it('wrong type and bad address: file, line and key', () => {
    expect(errorOf(() => parseConfigText('auth_service:\n  record_input: maybe\n', 'f.yaml')).message).toBe(
      'f.yaml:2: auth_service.record_input: must be yes or no (or true/false, on/off)',
    );
    expect(errorOf(() => parseConfigText('proxy_service:\n  web_listen_addr: "0.0.0.0:70000"\n', 'f.yaml')).message).toMatch(
      /^f\.yaml:2: proxy_service\.web_listen_addr: .*port outside 1-65535/,
    );
    expect(errorOf(() => parseConfigText('proxy_service:\n  listen_addr: "no port"\n', 'f.yaml')).message).toMatch(/^f\.yaml:2: proxy_service\.listen_addr: /);
    expect(errorOf(() => parseConfigText('auth_service:\n  max_session_ttl: 30\n', 'f.yaml')).message).toMatch(/^f\.yaml:2: auth_service\.max_session_ttl: .*unit/);
    expect(errorOf(() => parseConfigText('auth_service:\n  cert_source_addresses: [10.0.0.300/8]\n', 'f.yaml')).message).toMatch(/^f\.yaml:2: auth_service\.cert_source_addresses\.0: /);
  });

  it('malformed YAML names the line', () => {
    const e = errorOf(() => parseConfigText('teleport:\n  data_dir: [/x\nauth_service: {}\n', 'm.yaml'));
    expect(e.message).toMatch(/^m\.yaml:\d+: malformed YAML: /);
    expect(e.message).not.toContain('\n');
  });

  it('refuses settings tollgate cannot honour, with the reason', () => {
    expect(errorOf(() => load('auth_service:\n  session_recording: node\n')).message).toMatch(/needs a Teleport node service/);
    expect(errorOf(() => load('ssh_service:\n  enabled: yes\n')).message).toMatch(/stock OpenSSH/);
    expect(errorOf(() => load('proxy_service:\n  https_cert_file: /a.pem\n')).message).toMatch(/go together/);
  });

  it('a missing -c file is an error, not a silent fallback', () => {
    expect(errorOf(() => loadConfig({ configFile: '/nonexistent/teleport.yaml' })).message).toMatch(/does not exist/);
  });
});

describe('the session and forwarding settings parse to what the daemon applies', () => {
  it('client_idle_timeout, disconnect_expired_cert, session_recording: off, allow_port_forwarding', () => {
    const c = load(['auth_service:', '  client_idle_timeout: 5m', '  disconnect_expired_cert: yes', '  session_recording: off', 'proxy_service:', '  allow_port_forwarding: yes'].join('\n'));
    expect([c.auth.clientIdleTimeoutMs, c.auth.disconnectExpiredCert, c.auth.sessionRecording, c.proxy.allowPortForwarding]).toEqual([5 * 60_000, true, 'off', true]);
  });
});

describe('teleport.storage.path and teleport.log.output do what they say', () => {
  it('storage.path (sqlite) is where the store file goes, relative to the config file', () => {
    const c = load('teleport:\n  storage:\n    type: sqlite\n    path: backend\n');
    expect(c.storage).toEqual({ type: 'sqlite', dir: path.join(path.dirname(c.file!), 'backend') });
    expect(load('teleport:\n  log:\n    output: stdout\n').logOutput).toBe('stdout');
    expect(loadConfig({ systemConfigFile: '/nonexistent', hostname: 'box', dataDir: '/tmp/x' }).logOutput).toBe('stderr');
  });

  it('the daemon opens its SQLite store there', async () => {
    const { openStore, STORE_FILE } = await import('../../src/lib/runtime.js');
    const c = load('teleport:\n  storage:\n    type: sqlite\n    path: backend\n');
    const store = await openStore(c);
    await store.close();
    expect(fs.existsSync(path.join(path.dirname(c.file!), 'backend', STORE_FILE))).toBe(true);
    expect(fs.statSync(path.join(path.dirname(c.file!), 'backend')).mode & 0o777).toBe(0o700);
  });

  it('a path with postgres is refused', () => {
    expect(errorOf(() => load('teleport:\n  storage:\n    type: postgres\n    conn_string: postgres://x@h/db\n    path: /x\n')).message).toMatch(/storage\.path is for sqlite/);
  });
});
