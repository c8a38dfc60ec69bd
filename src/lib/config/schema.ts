import { z } from 'zod';
import { parseDuration } from '../duration.js';
import { checkCidr, parseHostPort, type HostPort } from '../address.js';
import { parseSize } from './size.js';

/*
 * teleport.yaml as Teleport's users write it, parsed as YAML 1.1 so `yes`/`no`/`on`/`off` are
 * booleans. That has a side effect Teleport's own parser also absorbs: `second_factor: off` and
 * `session_recording: off` arrive as `false`, so those enums accept `false` as "off".
 */

const bool = z.boolean({ error: 'must be yes or no (or true/false, on/off)' });

const duration = z.union([z.string(), z.number()], { error: 'must be a duration such as 30s, 15m or 12h' }).transform((v, ctx) => {
  if (typeof v === 'number') {
    ctx.addIssue({ code: 'custom', message: `must be a duration with a unit (e.g. "${v}s" or "${v}h"), not a bare number` });
    return z.NEVER;
  }
  try {
    return parseDuration(v);
  } catch {
    ctx.addIssue({ code: 'custom', message: `"${v}" is not a duration (use e.g. 30s, 15m, 12h)` });
    return z.NEVER;
  }
});

const idleTimeout = z.union([z.string(), z.number(), z.literal(false)]).transform((v, ctx) => {
  if (v === false || v === 'never' || v === 0 || v === '0') return 0;
  if (typeof v === 'number') {
    ctx.addIssue({ code: 'custom', message: `must be a duration with a unit or "never", not a bare number` });
    return z.NEVER;
  }
  try {
    return parseDuration(v);
  } catch {
    ctx.addIssue({ code: 'custom', message: `"${v}" is not a duration (use e.g. 15m, or "never")` });
    return z.NEVER;
  }
});

const address = (defaultPort?: number) =>
  z.string({ error: 'must be an address such as 0.0.0.0:3023' }).transform((v, ctx): HostPort => {
    const r = parseHostPort(v, defaultPort);
    if (typeof r === 'string') {
      ctx.addIssue({ code: 'custom', message: r });
      return z.NEVER;
    }
    return r;
  });

const ipAddress = z.string({ error: 'must be an IP address' }).refine((v) => checkCidr(v) === undefined && !v.includes('/'), {
  message: 'must be a local IP address such as 10.0.0.5 (no port, no prefix)',
});

const cidr = z.string({ error: 'must be a CIDR such as 10.0.0.0/8' }).superRefine((v, ctx) => {
  const err = checkCidr(v);
  if (err) ctx.addIssue({ code: 'custom', message: err });
});

/** allowed_targets entries: `CIDR`, `CIDR:PORT` (IPv6 in brackets), or `*:PORT`. */
const target = z.string({ error: 'must be a target such as 10.0.0.0/8 or 10.0.0.0/8:22' }).superRefine((v, ctx) => {
  const m = /^(?:\[([^\]]+)\]|([^:]+))(?::(\d+))?$/.exec(v) ?? /^([^[\]]*:[^[\]]*)$/.exec(v);
  const net = m?.[1] ?? m?.[2];
  const port = m?.[3];
  const netErr = net === '*' ? undefined : net ? checkCidr(net) : `"${v}" is not a target`;
  if (netErr) ctx.addIssue({ code: 'custom', message: `${netErr} (targets are CIDR, CIDR:PORT or *:PORT)` });
  else if (port !== undefined && (Number(port) < 1 || Number(port) > 65535)) ctx.addIssue({ code: 'custom', message: `"${v}" has a port outside 1-65535` });
});

/** A duration that may be 0 (`0s`: end running sessions at once on SIGTERM). */
const drainTimeout = z.union([z.string(), z.number()], { error: 'must be a duration such as 30s or 5m' }).transform((v, ctx) => {
  if (v === 0 || v === '0') return 0;
  if (typeof v === 'number') {
    ctx.addIssue({ code: 'custom', message: `must be a duration with a unit (e.g. "${v}s"), not a bare number` });
    return z.NEVER;
  }
  try {
    return parseDuration(v);
  } catch {
    ctx.addIssue({ code: 'custom', message: `"${v}" is not a duration (use e.g. 30s or 5m)` });
    return z.NEVER;
  }
});

/** What a bad teleport.workers value was, as its writer would recognise it. */
function workersValue(v: unknown): string {
  if (typeof v === 'boolean') return `${v ? 'yes' : 'no'} (YAML 1.1 reads yes/no/on/off as true/false)`;
  if (typeof v === 'string') return /^\d+$/.test(v) ? `"${v}" (a string: write the number without quotes)` : `"${v}"`;
  return JSON.stringify(v) ?? String(v);
}

/** teleport.workers: processes that accept SSH connections; `auto` = one per core (os.availableParallelism). */
export const MAX_WORKERS = 64;
const workers = z
  .union([z.literal('auto'), z.number()], { error: (iss) => `must be auto or a whole number from 1 to ${MAX_WORKERS}, not ${workersValue(iss.input)}` })
  .superRefine((v, ctx) => {
    if (v !== 'auto' && (!Number.isInteger(v) || v < 1 || v > MAX_WORKERS)) ctx.addIssue({ code: 'custom', message: `must be auto or a whole number from 1 to ${MAX_WORKERS}, not ${v}` });
  });

const logFormat = z.enum(['text', 'json'], { error: 'must be text or json' });

/** stderr, stdout, or a log file path (syslog is Teleport's, not tollgate's). */
const logOutput = z.string({ error: 'must be stderr, stdout or a file path' }).superRefine((v, ctx) => {
  if (v === '') ctx.addIssue({ code: 'custom', message: 'must be stderr, stdout or a file path' });
  else if (v === 'syslog') ctx.addIssue({ code: 'custom', message: 'syslog is not supported; use stderr (journald collects it under systemd) or a file path' });
});

const size = z.union([z.string(), z.number()]).transform((v, ctx) => {
  const n = parseSize(v);
  if (n === undefined) {
    ctx.addIssue({ code: 'custom', message: `"${v}" is not a size (use bytes or e.g. 64MiB)` });
    return z.NEVER;
  }
  return n;
});

/** A size limit: bytes or `64MiB`; `unlimited` (or 0) is no limit, read as 0. */
const sizeOrUnlimited = z.union([z.literal('unlimited'), size]).transform((v) => (v === 'unlimited' ? 0 : v));

const offOr = <T extends string>(values: readonly [T, ...T[]]) =>
  z
    .union([z.literal(false), z.enum(values)], { error: `must be one of ${values.join(', ')}` })
    .transform((v) => (v === false ? 'off' : v));

const clusterName = z
  .string()
  .regex(/^[A-Za-z0-9]([A-Za-z0-9.-]{0,252})$/, 'must be a DNS-style name (letters, digits, dots, dashes)');

/** public_addr: one address or a list; the first is what URLs name. Port defaults to the web port. */
const publicAddrs = z
  .union([z.string(), z.array(z.string())], { error: 'must be an address or a list of addresses' })
  .transform((v, ctx): HostPort[] => {
    const out: HostPort[] = [];
    for (const a of Array.isArray(v) ? v : [v]) {
      const r = parseHostPort(a, 3080);
      if (typeof r === 'string') ctx.addIssue({ code: 'custom', message: r });
      else out.push(r);
    }
    return out;
  });

export const fileSchema = z.strictObject({
  version: z.enum(['v1', 'v2', 'v3'], { error: 'must be v1, v2 or v3' }).optional(),
  teleport: z
    .strictObject({
      nodename: z.string().optional(),
      data_dir: z.string().min(1).optional(),
      storage: z
        .strictObject({
          type: z.enum(['sqlite', 'postgres', 'dir'], { error: 'must be sqlite or postgres' }),
          conn_string: z.string().optional(),
          path: z.string().optional(),
        })
        .optional(),
      diag_addr: address().optional(),
      drain_timeout: drainTimeout.optional(),
      workers: workers.optional(),
      /** The key-encryption key's file (sealed CA keys); relative to the config file. */
      keys_file: z.string().min(1).optional(),
      log: z
        .strictObject({
          output: logOutput.optional(),
          // tollgate's `format: json`, or Teleport's `format: {output: json}`.
          format: z
            .union([logFormat, z.strictObject({ output: logFormat })], { error: 'must be text or json (or Teleport\'s form: format: {output: json})' })
            .transform((v) => (typeof v === 'string' ? v : v.output))
            .optional(),
          severity: z.enum(['DEBUG', 'INFO', 'WARN', 'ERROR', 'debug', 'info', 'warn', 'error'], { error: 'must be DEBUG, INFO, WARN or ERROR' }).optional(),
        })
        .optional(),
    })
    .optional(),
  auth_service: z
    .strictObject({
      enabled: bool.optional(),
      cluster_name: clusterName.optional(),
      listen_addr: address(3025).optional(),
      session_recording: offOr(['proxy', 'proxy-sync', 'node', 'node-sync']).optional(),
      proxy_checks_host_keys: bool.optional(),
      authentication: z
        .strictObject({
          type: z.enum(['local'], { error: 'must be local (the only authentication type tollgate has)' }).optional(),
          second_factor: offOr(['otp']).optional(),
        })
        .optional(),
      max_session_ttl: duration.optional(),
      client_idle_timeout: idleTimeout.optional(),
      disconnect_expired_cert: bool.optional(),
      max_exec_recording_size: sizeOrUnlimited.optional(),
      record_input: bool.optional(),
      cert_source_addresses: z.array(cidr, { error: 'must be a list of CIDRs' }).optional(),
    })
    .optional(),
  proxy_service: z
    .strictObject({
      enabled: bool.optional(),
      listen_addr: address().optional(),
      web_listen_addr: address().optional(),
      public_addr: publicAddrs.optional(),
      https_cert_file: z.string().optional(),
      https_key_file: z.string().optional(),
      upstream_bind_addr: ipAddress.optional(),
      forward_agent_to_nodes: bool.optional(),
      allow_port_forwarding: bool.optional(),
      allow_unregistered_nodes: bool.optional(),
      max_session_observers: z.number().int().min(0).max(1000).optional(),
      allowed_targets: z.array(target, { error: 'must be a list of targets' }).optional(),
    })
    .optional(),
  ssh_service: z
    .strictObject({
      enabled: z.literal(false, { error: 'must be no: tollgate nodes are stock OpenSSH servers, there is no node service' }).optional(),
    })
    .optional(),
});

export type FileConfig = z.infer<typeof fileSchema>;
