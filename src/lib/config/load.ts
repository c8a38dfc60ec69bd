import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { isMap, isPair, isScalar, LineCounter, parseDocument, type Document } from 'yaml';
import type { z } from 'zod';
import { badParameter } from '../errors.js';
import { isWildcardHost, parseHostPort, type HostPort } from '../address.js';
import { DEFAULTS, type Config, type DataDirSource, type Role } from './config.js';
import { fileSchema, MAX_WORKERS, type FileConfig } from './schema.js';

/** What the command line (and environment) contribute; everything else comes from the file. */
export interface ConfigInputs {
  /** `-c FILE`; when absent, /etc/teleport.yaml is read if it exists. */
  configFile?: string;
  dataDir?: string;
  roles?: readonly Role[];
  /** `--diag-addr`: wins over teleport.diag_addr. */
  diagAddr?: string;
  /** `--workers`: wins over teleport.workers (`auto` or a count). */
  workers?: string;
  /** Environment, injected so tests do not depend on the caller's. */
  env?: NodeJS.ProcessEnv;
  /** Overridable for tests: where the system-wide config and data dir live. */
  systemConfigFile?: string;
  systemDataDir?: string;
  hostname?: string;
  /** Overridable for tests: the cores `workers: auto` counts. */
  cores?: number;
}

/** Finds, parses and validates the configuration once, into a frozen Config. */
export function loadConfig(inputs: ConfigInputs = {}): Config {
  const env = inputs.env ?? process.env;
  const file = resolveConfigFile(inputs);
  return buildConfig(file ? readConfigFile(file) : {}, file, inputs, env);
}

function resolveConfigFile(inputs: ConfigInputs): string | undefined {
  if (inputs.configFile) {
    const p = path.resolve(inputs.configFile);
    if (!fs.existsSync(p)) throw badParameter(`config file ${p} does not exist`, 'check the path given to -c/--config');
    return p;
  }
  const sys = inputs.systemConfigFile ?? DEFAULTS.systemConfigFile;
  return fs.existsSync(sys) ? sys : undefined;
}

/** Reads and validates a teleport.yaml; every error names the file, the line and the key. */
export function readConfigFile(file: string): FileConfig {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw badParameter(`cannot read config file ${file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`, 'check the path and its permissions');
  }
  return parseConfigText(text, file);
}

export function parseConfigText(text: string, file: string): FileConfig {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { version: '1.1', lineCounter, prettyErrors: false, uniqueKeys: true });
  const yamlError = doc.errors[0];
  if (yamlError) {
    const line = yamlError.linePos?.[0]?.line ?? lineCounter.linePos(yamlError.pos[0]).line;
    const reason = yamlError.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '');
    throw badParameter(`${file}:${line}: malformed YAML: ${reason}`, 'fix the YAML syntax (indent with spaces, "key: value")');
  }
  const raw: unknown = doc.toJS() ?? {};
  const result = fileSchema.safeParse(raw);
  if (result.success) return result.data;
  const issue = result.error.issues[0]!;
  const { key, line } = locateIssue(doc, lineCounter, issue);
  const where = line ? `${file}:${line}` : file;
  if (issue.code === 'unrecognized_keys') {
    return fail(`${where}: unknown key "${key}"${suggest(issue, doc)}`, 'remove it or fix its spelling; the README lists every supported key');
  }
  return fail(`${where}: ${key}: ${issue.message}`, 'fix the value; the README lists every supported key and its format');
}

function fail(message: string, hint: string): never {
  throw badParameter(message, hint);
}

type Issue = z.core.$ZodIssue;

function locateIssue(doc: Document, lc: LineCounter, issue: Issue): { key: string; line: number | undefined } {
  const parentPath = issue.path.map(String);
  const keyPath = issue.code === 'unrecognized_keys' ? [...parentPath, String(issue.keys[0])] : parentPath;
  const key = keyPath.join('.') || '(top level)';
  // The key's own line is the most useful: for a bad value it is the same line, for a
  // missing or unknown key it points at the key itself.
  const container = keyPath.length > 1 ? doc.getIn(keyPath.slice(0, -1), true) : doc.contents;
  let offset: number | undefined;
  if (isMap(container)) {
    const last = keyPath[keyPath.length - 1];
    const pair = container.items.find((p) => isPair(p) && isScalar(p.key) && String(p.key.value) === last);
    offset = (pair?.key as { range?: [number, number, number] } | undefined)?.range?.[0];
  }
  if (offset === undefined) {
    const node = doc.getIn(keyPath, true) as { range?: [number, number, number] } | undefined;
    offset = node?.range?.[0];
  }
  return { key, line: offset === undefined ? undefined : lc.linePos(offset).line };
}

/** "did you mean" for a misspelt key: the closest known key within two edits. */
function suggest(issue: Issue, doc: Document): string {
  if (issue.code !== 'unrecognized_keys') return '';
  const bad = String(issue.keys[0]);
  let shape: Record<string, unknown> = fileSchema.shape as Record<string, unknown>;
  for (const seg of issue.path) {
    let s = shape[String(seg)] as { unwrap?: () => unknown; shape?: Record<string, unknown> } | undefined;
    while (s && !s.shape && s.unwrap) s = s.unwrap() as typeof s;
    if (!s?.shape) return '';
    shape = s.shape;
  }
  void doc;
  const best = Object.keys(shape)
    .map((k) => [k, editDistance(k, bad)] as const)
    .sort((a, b) => a[1] - b[1])[0];
  return best && best[1] <= 2 ? ` (did you mean "${best[0]}"?)` : '';
}

function editDistance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0]![j] = j;
  for (let i = 1; i <= a.length; i++)
    for (let j = 1; j <= b.length; j++)
      d[i]![j] = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
  return d[a.length]![b.length]!;
}

function buildConfig(f: FileConfig, file: string | undefined, inputs: ConfigInputs, env: NodeJS.ProcessEnv): Config {
  const where = file ?? 'embedded defaults';
  const hostname = inputs.hostname ?? f.teleport?.nodename ?? os.hostname();
  const { dataDir, dataDirSource } = resolveDataDir(f, inputs, env);

  const st = f.teleport?.storage;
  if (st?.type === 'postgres' && !st.conn_string) fail(`${where}: teleport.storage.conn_string is required when type is postgres`, 'add conn_string: postgres://user@host/db');
  if (st?.type === 'dir') fail(`${where}: teleport.storage.type "dir" is not supported`, 'use sqlite (the default) or postgres');
  if (st?.type === 'postgres' && st.path) fail(`${where}: teleport.storage.path is for sqlite`, 'remove it; PostgreSQL is reached through conn_string');
  const storage =
    st?.type === 'postgres'
      ? { type: 'postgres' as const, connString: st.conn_string! }
      : { type: 'sqlite' as const, ...(st?.path ? { dir: path.resolve(path.dirname(file ?? '.'), st.path) } : {}) };

  // TOLLGATE_KEK or keys_file, not both: one of them would silently not do what it says.
  const kekText = env.TOLLGATE_KEK;
  let keys: Config['keys'];
  if (kekText !== undefined && kekText !== '') {
    if (f.teleport?.keys_file) fail(`${where}: teleport.keys_file is set and so is TOLLGATE_KEK`, 'use one of them: unset TOLLGATE_KEK or remove keys_file');
    const key = Buffer.from(kekText.trim(), 'base64');
    if (key.length !== 32 || !/^[A-Za-z0-9+/]+=*$/.test(kekText.trim())) fail('TOLLGATE_KEK: must be 32 bytes in base64', 'make one with: head -c 32 /dev/urandom | base64');
    keys = { kind: 'env', keyBase64: key.toString('base64') };
  } else {
    keys = { kind: 'file', file: f.teleport?.keys_file ? path.resolve(path.dirname(file ?? '.'), f.teleport.keys_file) : defaultKeysFile(dataDir) };
  }

  const a = f.auth_service ?? {};
  const rec = a.session_recording ?? 'proxy';
  if (rec === 'node' || rec === 'node-sync') {
    fail(`${where}: auth_service.session_recording: "${rec}" needs a Teleport node service`, 'tollgate records at the proxy: use "proxy" (or "off")');
  }
  const p = f.proxy_service ?? {};
  if (Boolean(p.https_cert_file) !== Boolean(p.https_key_file)) {
    fail(`${where}: proxy_service.https_cert_file and https_key_file go together`, 'set both, or neither for a self-signed certificate');
  }

  const roles = inputs.roles;
  const authEnabled = roles ? roles.includes('auth') : a.enabled ?? true;
  const proxyEnabled = roles ? roles.includes('proxy') : p.enabled ?? true;

  const webListenAddr = p.web_listen_addr ?? DEFAULTS.webListenAddr;
  const publicAddrs = p.public_addr ?? [];
  const publicWebAddr = publicAddrs[0] ?? {
    host: isWildcardHost(webListenAddr.host) ? hostname : webListenAddr.host,
    port: webListenAddr.port,
  };
  const maxSessionTtlMs = a.max_session_ttl ?? DEFAULTS.maxSessionTtlMs;
  if (maxSessionTtlMs < 60_000) fail(`${where}: auth_service.max_session_ttl: must be at least 1m`, 'use e.g. 30h');

  const log = f.teleport?.log;
  const output = log?.output ?? 'stderr';
  const logOutput = output === 'stderr' || output === 'stdout' ? output : 'file';
  let diagAddr: HostPort | undefined = f.teleport?.diag_addr;
  if (inputs.diagAddr !== undefined) {
    const r = parseHostPort(inputs.diagAddr);
    if (typeof r === 'string') fail(`--diag-addr: ${r}`, 'use HOST:PORT, e.g. 127.0.0.1:3000');
    diagAddr = r;
  }

  let workersSetting = f.teleport?.workers ?? DEFAULTS.workers;
  if (inputs.workers !== undefined) {
    const n = Number(inputs.workers);
    if (inputs.workers !== 'auto' && !(/^\d+$/.test(inputs.workers) && n >= 1 && n <= MAX_WORKERS)) fail(`--workers: must be auto or a whole number from 1 to ${MAX_WORKERS}, not "${inputs.workers}"`, 'use e.g. --workers=auto (one per core) or --workers=1 (one process)');
    workersSetting = inputs.workers === 'auto' ? 'auto' : n;
  }
  const config: Config = {
    file,
    dataDir,
    dataDirSource,
    hostname,
    logLevel: (f.teleport?.log?.severity?.toLowerCase() as Config['logLevel'] | undefined) ?? 'info',
    logOutput,
    logFile: logOutput === 'file' ? path.resolve(path.dirname(file ?? '.'), output) : undefined,
    logFormat: log?.format ?? 'text',
    diagAddr,
    drainTimeoutMs: f.teleport?.drain_timeout ?? DEFAULTS.drainTimeoutMs,
    workers: workersSetting === 'auto' ? Math.min(MAX_WORKERS, inputs.cores ?? os.availableParallelism()) : workersSetting,
    workersAuto: workersSetting === 'auto',
    storage,
    keys,
    auth: {
      enabled: authEnabled,
      clusterName: a.cluster_name ?? hostname,
      sessionRecording: rec === 'off' ? 'off' : 'proxy',
      proxyChecksHostKeys: a.proxy_checks_host_keys ?? true,
      secondFactor: a.authentication?.second_factor === 'otp' || a.authentication?.second_factor === undefined ? 'otp' : 'off',
      maxSessionTtlMs,
      clientIdleTimeoutMs: a.client_idle_timeout ?? 0,
      disconnectExpiredCert: a.disconnect_expired_cert ?? false,
      maxExecRecordingSize: a.max_exec_recording_size ?? DEFAULTS.maxExecRecordingSize,
      recordInput: a.record_input ?? false,
      certSourceAddresses: a.cert_source_addresses ?? [],
    },
    proxy: {
      enabled: proxyEnabled,
      listenAddr: p.listen_addr ?? DEFAULTS.listenAddr,
      webListenAddr,
      publicAddrs,
      publicWebAddr,
      httpsCertFile: p.https_cert_file ? path.resolve(path.dirname(file ?? '.'), p.https_cert_file) : undefined,
      httpsKeyFile: p.https_key_file ? path.resolve(path.dirname(file ?? '.'), p.https_key_file) : undefined,
      upstreamBindAddr: p.upstream_bind_addr,
      forwardAgentToNodes: p.forward_agent_to_nodes ?? false,
      allowPortForwarding: p.allow_port_forwarding ?? false,
      allowUnregisteredNodes: p.allow_unregistered_nodes ?? true,
      allowedTargets: p.allowed_targets ?? [],
      maxSessionObservers: p.max_session_observers ?? 16,
    },
  };
  return deepFreeze(config);
}


function resolveDataDir(f: FileConfig, inputs: ConfigInputs, env: NodeJS.ProcessEnv): { dataDir: string; dataDirSource: DataDirSource } {
  if (inputs.dataDir) return { dataDir: path.resolve(inputs.dataDir), dataDirSource: 'flag' };
  if (f.teleport?.data_dir) return { dataDir: path.resolve(f.teleport.data_dir), dataDirSource: 'config' };
  const sys = inputs.systemDataDir ?? DEFAULTS.systemDataDir;
  if (isWritableOrCreatable(sys)) return { dataDir: sys, dataDirSource: 'system-default' };
  const base = env.XDG_DATA_HOME || path.join(env.HOME || os.homedir(), '.local', 'share');
  return { dataDir: path.join(base, 'tollgate'), dataDirSource: 'user-default' };
}

function isWritableOrCreatable(dir: string): boolean {
  try {
    fs.accessSync(fs.existsSync(dir) ? dir : path.dirname(dir), fs.constants.W_OK);
    return true;
  } catch {
    return false;
  }
}

function deepFreeze<T>(o: T): T {
  if (o && typeof o === 'object') {
    for (const v of Object.values(o)) deepFreeze(v);
    Object.freeze(o);
  }
  return o;
}

/**
 * The key-encryption key's default home: its own directory beside the data dir, not inside it, so
 * a copy of the data dir (or of the store in it) alone unseals nothing: `/var/lib/teleport` keeps
 * its key in `/var/lib/teleport-keys/kek`.
 */
export function defaultKeysFile(dataDir: string): string {
  return path.join(path.dirname(dataDir), `${path.basename(dataDir)}-keys`, 'kek');
}
