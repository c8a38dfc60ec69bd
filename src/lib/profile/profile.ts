import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { notFound } from '../errors.js';
import { writeFileAtomic } from '../fs/index.js';

/*
 * tsh's profile directory, laid out like Teleport's ~/.tsh:
 *   current-profile                  name of the active profile (the proxy host)
 *   <proxy-host>.json                the profile (0600: it holds the web API bearer token)
 *   keys/<proxy-host>/<user>         private key (0600), <user>.pub, <user>-cert.pub
 *   known_hosts                      @cert-authority lines for the clusters' host CAs
 */
export interface Profile {
  name: string;
  web_proxy_addr: string;
  ssh_proxy_addr: string;
  user: string;
  cluster: string;
  logins: string[];
  valid_before: string;
  /**
   * The proxy's TLS public-key pin (`sha256:HEX`), kept when its certificate did not verify at
   * login (self-signed): every later request checks it before sending anything. `--insecure` is
   * never saved; an old profile's `insecure: true` becomes `legacy_insecure` on load.
   */
  tls_pin?: string;
  /** An older tsh saved `insecure: true`: calls are refused until tsh login runs again (see client/proxy-trust.ts). */
  legacy_insecure?: true;
  token: string;
  key_file: string;
  cert_file: string;
  /** Whether tsh added the key to an ssh-agent, and which. */
  agent_socket: string | null;
  /** The cluster's recording key (`allowed_signers` line), pinned at login for tsh play --verify. */
  recording_signers?: string;
}

/** TELEPORT_HOME, else ~/.tsh (the environment is passed in by the command, the edge). */
export function profileDirFromEnv(env: NodeJS.ProcessEnv): string {
  return env.TELEPORT_HOME ? path.resolve(env.TELEPORT_HOME) : path.join(env.HOME || os.homedir(), '.tsh');
}

export class ProfileStore {
  constructor(readonly dir: string) {}

  private ensureDir(dir: string): void {
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    fs.chmodSync(dir, 0o700);
  }

  keyPaths(name: string, user: string): { key: string; pub: string; cert: string } {
    const base = path.join(this.dir, 'keys', name, user);
    return { key: base, pub: `${base}.pub`, cert: `${base}-cert.pub` };
  }

  get knownHostsFile(): string {
    return path.join(this.dir, 'known_hosts');
  }

  /**
   * The host CA for any name, for the ssh_config Host blocks that go through the proxy only (tsh
   * config): there the proxy dialled the name and presents its on-the-fly certificate for it.
   * Never for direct connections, which use knownHostsFile (scoped patterns).
   */
  get proxiedKnownHostsFile(): string {
    return path.join(this.dir, 'proxied_known_hosts');
  }

  /** Writes a file 0600, atomically (replacing it), so a crash never leaves half a key. */
  writeSecret(file: string, data: string): void {
    this.ensureDir(path.dirname(file));
    writeFileAtomic(file, data, { mode: 0o600, overwrite: true });
  }

  save(p: Profile): void {
    this.writeSecret(path.join(this.dir, `${p.name}.json`), `${JSON.stringify(p, null, 2)}\n`);
    this.writeSecret(path.join(this.dir, 'current-profile'), `${p.name}\n`);
  }

  currentName(): string | undefined {
    try {
      return fs.readFileSync(path.join(this.dir, 'current-profile'), 'utf8').trim() || undefined;
    } catch {
      return undefined;
    }
  }

  load(name = this.currentName()): Profile | undefined {
    if (!name) return undefined;
    let raw: Profile & { insecure?: unknown };
    try {
      raw = JSON.parse(fs.readFileSync(path.join(this.dir, `${name}.json`), 'utf8')) as Profile & { insecure?: unknown };
    } catch {
      return undefined;
    }
    // Migration: older versions saved --insecure. It is not honoured any more; it is remembered
    // only so the profile can say why it is refused.
    const { insecure, ...p } = raw;
    return insecure === true ? { ...p, legacy_insecure: true } : p;
  }

  current(): Profile {
    const p = this.load();
    if (!p) throw notFound('not logged in', 'log in with tsh login --proxy=HOST');
    return p;
  }

  /** Replaces this cluster's line in known_hosts with `line`, keeping every other line. */
  trustHostCa(line: string, cluster: string, file = this.knownHostsFile): void {
    if (/[\r\n]/.test(line) || /\s/.test(cluster)) throw new Error('a known_hosts line is one line');
    const marker = ` tollgate-cluster=${cluster}`;
    let lines: string[] = [];
    try {
      lines = fs.readFileSync(file, 'utf8').split('\n').filter((l) => l && !l.endsWith(marker));
    } catch {
      // first login
    }
    this.writeSecret(file, `${[...lines, `${line}${marker}`].join('\n')}\n`);
  }

  /** This cluster's `@cert-authority` line (without the marker), if trusted. */
  hostCaLine(cluster: string): string | undefined {
    const marker = ` tollgate-cluster=${cluster}`;
    try {
      const line = fs.readFileSync(this.knownHostsFile, 'utf8').split('\n').find((l) => l.endsWith(marker));
      return line?.slice(0, -marker.length);
    } catch {
      return undefined;
    }
  }

  /** Deletes the profile and its keys; returns the profile that was removed. */
  remove(name: string): Profile | undefined {
    const p = this.load(name);
    fs.rmSync(path.join(this.dir, 'keys', name), { recursive: true, force: true });
    fs.rmSync(path.join(this.dir, `${name}.json`), { force: true });
    if (this.currentName() === name) fs.rmSync(path.join(this.dir, 'current-profile'), { force: true });
    return p;
  }

  names(): string[] {
    try {
      return fs
        .readdirSync(this.dir)
        .filter((f) => f.endsWith('.json'))
        .map((f) => f.slice(0, -5));
    } catch {
      return [];
    }
  }
}
