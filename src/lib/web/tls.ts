import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import type { Config } from '../config/index.js';
import { isWildcardHost } from '../address.js';
import { unavailable } from '../errors.js';
import type { Logger } from '../log.js';

export interface TlsMaterial {
  cert: string;
  key: string;
  selfSigned: boolean;
  certFile: string;
}

export const SELF_SIGNED_CERT = 'webproxy_cert.pem';
export const SELF_SIGNED_KEY = 'webproxy_key.pem';

function readPem(file: string, what: string): string {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw unavailable(`cannot read proxy_service.${what} ${file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`, 'check the path and its permissions', err);
  }
}

/** Every name the self-signed certificate should be valid for. */
function altNames(config: Config): string[] {
  const names = new Set(['localhost', '127.0.0.1', '::1', config.hostname]);
  for (const a of config.proxy.publicAddrs) names.add(a.host);
  if (!isWildcardHost(config.proxy.webListenAddr.host)) names.add(config.proxy.webListenAddr.host);
  return [...names];
}

/**
 * The HTTPS certificate: `https_cert_file`/`https_key_file` when configured, else a self-signed
 * EC P-256 certificate made on first start and kept in the data dir (key 0600), as Teleport does.
 */
export async function loadOrCreateTls(config: Config, log: Logger): Promise<TlsMaterial> {
  if (config.proxy.httpsCertFile && config.proxy.httpsKeyFile) {
    return {
      cert: readPem(config.proxy.httpsCertFile, 'https_cert_file'),
      key: readPem(config.proxy.httpsKeyFile, 'https_key_file'),
      selfSigned: false,
      certFile: config.proxy.httpsCertFile,
    };
  }
  const certFile = path.join(config.dataDir, SELF_SIGNED_CERT);
  const keyFile = path.join(config.dataDir, SELF_SIGNED_KEY);
  if (fs.existsSync(certFile) && fs.existsSync(keyFile)) {
    return { cert: fs.readFileSync(certFile, 'utf8'), key: fs.readFileSync(keyFile, 'utf8'), selfSigned: true, certFile };
  }
  const { generate } = await import('selfsigned');
  const names = altNames(config);
  const now = new Date();
  const pems = await generate([{ name: 'commonName', value: config.hostname }], {
    keyType: 'ec',
    curve: 'P-256',
    algorithm: 'sha256',
    notBeforeDate: new Date(now.getTime() - 60_000),
    notAfterDate: new Date(now.getTime() + 365 * 86_400_000),
    extensions: [
      { name: 'basicConstraints', cA: false },
      { name: 'keyUsage', digitalSignature: true, keyEncipherment: true },
      { name: 'extKeyUsage', serverAuth: true },
      { name: 'subjectAltName', altNames: names.map((n) => (net.isIP(n) ? { type: 7, ip: n } : { type: 2, value: n })) },
    ],
  });
  fs.writeFileSync(keyFile, pems.private, { mode: 0o600 });
  fs.chmodSync(keyFile, 0o600);
  fs.writeFileSync(certFile, pems.cert, { mode: 0o644 });
  log.warn('generated a self-signed HTTPS certificate; clients need --insecure until you configure https_cert_file/https_key_file', {
    component: 'web',
    cert: certFile,
    names: names.join(','),
  });
  return { cert: pems.cert, key: pems.private, selfSigned: true, certFile };
}
