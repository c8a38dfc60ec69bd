import { AgentClient } from '../agent/index.js';
import { parseCertificate, generateEd25519, parsePublicKeyLine, privateKeyToOpenSSH, publicKeyLine } from '../ca/index.js';
import { formatHostPort, isWildcardHost, parseHostPort } from '../address.js';
import { validateUserName } from '../auth/index.js';
import { badParameter, TollgateError } from '../errors.js';
import type { Profile, ProfileStore } from '../profile/index.js';
import { parseProxyAddress } from '../profile/index.js';
import { webApiRoutes } from '../api/index.js';
import { WebClient } from './web-client.js';
import { changedKeyError, decideTrust, profileWebClient, type TrustDecision } from './proxy-trust.js';

export type AddKeysToAgent = 'auto' | 'yes' | 'no';

export interface LoginRequest {
  proxy: string;
  user: string;
  ttlMs?: number;
  /** Skip TLS verification for this login only; the key seen is pinned, the flag is not saved. */
  insecure: boolean;
  /** `--fingerprint=sha256:HEX`: the proxy's TLS key pin, as tctl status prints it. */
  fingerprint?: string;
  /** Asks whether to trust a key that does not verify (a TTY prompt); absent without a terminal. */
  confirmTrust?: (pin: string, reason: string) => Promise<boolean>;
  addKeysToAgent: AddKeysToAgent;
  profiles: ProfileStore;
  /** The agent to load the key into (from SSH_AUTH_SOCK), if any. */
  agent: AgentClient | undefined;
  askPassword(user: string): Promise<string>;
  askOtp(): Promise<string>;
  now?: () => Date;
}

export interface LoginResult {
  profile: Profile;
  /** What happened with the agent: added, skipped (no), or why not. */
  agent: { added: true; socket: string } | { added: false; reason: string };
  extensions: string[];
  /** How the proxy's TLS certificate came to be trusted. */
  trust: TrustDecision['how'];
}

/**
 * The names the host CA is trusted for in the profile's known_hosts: `*.CLUSTER`, the proxy's own
 * names, and the registered nodes' names. Not `*`: a cluster's CA vouches for its own hosts, not
 * for github.com. Hosts reached by other names (unregistered legacy nodes dialled by IP) get the
 * proxy's on-the-fly host certificate; tsh config trusts the CA for those only in the Host blocks
 * that go through the proxy (proxiedKnownHostsFile), where the proxy is the one that dialled.
 */
export function hostCaPatterns(cluster: string, proxyHosts: readonly string[], nodeNames: readonly string[]): string[] {
  return [...new Set([`*.${cluster}`, ...proxyHosts, ...nodeNames])];
}

/**
 * Rebuilds the proxy's `@cert-authority` line from its key alone, with patterns of our choosing:
 * the proxy's text is never written to known_hosts as it came (it could hold a newline or `*`).
 */
function hostCaLine(hostCa: string, patterns: readonly string[]): { line: string; key: string } {
  const fields = hostCa.trim().split(/\s+/);
  const at = fields.findIndex((f) => /^(ssh-|ecdsa-)/.test(f));
  if (hostCa.includes('\n') || at < 0 || !fields[at + 1]) throw badParameter('the proxy sent a host CA that is not an @cert-authority line', 'is --proxy really your tollgate proxy?');
  const key = `${fields[at]} ${fields[at + 1]}`;
  parsePublicKeyLine(key); // throws on anything that is not a public key
  return { line: `@cert-authority ${patterns.join(',')} ${key}`, key };
}

/** The SSH proxy address tsh dials: the reported one, or the --proxy host when it listens on a wildcard. */
function sshProxyAddr(proxyHost: string, ping: { proxy: { ssh: { listen_addr: string; public_addr?: string } } }): string {
  if (ping.proxy.ssh.public_addr) return ping.proxy.ssh.public_addr;
  const listen = parseHostPort(ping.proxy.ssh.listen_addr, 3023);
  if (typeof listen === 'string') return formatHostPort({ host: proxyHost, port: 3023 });
  return formatHostPort({ host: isWildcardHost(listen.host) ? proxyHost : listen.host, port: listen.port });
}

/**
 * tsh login: ping the proxy, ask for the password (and OTP), get a certificate for a fresh ed25519
 * key, save the profile (0600), trust the host CA, and load key + certificate into the agent.
 * The private key never leaves this machine.
 */
export async function login(req: LoginRequest): Promise<LoginResult> {
  const now = req.now ?? (() => new Date());
  validateUserName(req.user);
  const proxy = parseProxyAddress(req.proxy);
  const where = formatHostPort(proxy);
  const name = proxy.host;
  // Decide about the proxy's TLS key before anything is sent (the password least of all); the pin
  // is checked again on each request's own connection, so a swap after the probe is caught too.
  const previous = req.profiles.load(name);
  const knownPin = previous?.web_proxy_addr === where ? previous.tls_pin : undefined;
  const trust = await decideTrust({
    where,
    probe: await WebClient.probe(proxy),
    ...(req.fingerprint !== undefined ? { fingerprint: req.fingerprint } : {}),
    ...(knownPin ? { knownPin } : {}),
    insecure: req.insecure,
    ...(req.confirmTrust ? { confirm: req.confirmTrust } : {}),
  });
  const pinned = (bearer?: string) => new WebClient(proxy, false, bearer, trust.pin, trust.pin ? (got) => changedKeyError(where, trust.pin!, got) : undefined);
  const web = pinned();
  const ping = await web.ping();
  if (req.addKeysToAgent === 'yes' && !req.agent) {
    throw badParameter('--add-keys-to-agent=yes but no ssh-agent is running (SSH_AUTH_SOCK is not set)', 'start one with: eval "$(ssh-agent)"');
  }
  const password = await req.askPassword(req.user);
  const otp = ping.auth.second_factor === 'otp' ? await req.askOtp() : undefined;
  const key = generateEd25519();
  const certs = await web.call(webApiRoutes.login, {
    body: {
      user: req.user,
      password,
      otp_code: otp,
      pub_key: publicKeyLine(key.publicBlob),
      ttl_seconds: req.ttlMs === undefined ? undefined : Math.ceil(req.ttlMs / 1000),
    },
  });
  // Nothing from the proxy is trusted unchecked: the name becomes a file path, and the certificate
  // must be a user certificate for the key just made, for the user who logged in.
  if (certs.user !== req.user) throw badParameter(`the proxy answered for user "${certs.user}", not "${req.user}"`, 'is --proxy really your tollgate proxy?');
  const certBlob = parsePublicKeyLine(certs.cert).blob;
  const cert = parseCertificate(certBlob);
  if (cert.type !== 'user' || cert.keyId !== req.user || !cert.subjectKey.equals(key.publicBlob.subarray(key.publicBlob.length - 32))) {
    throw badParameter('the proxy returned a certificate that is not for your new key', 'is --proxy really your tollgate proxy?');
  }
  const sshProxy = sshProxyAddr(proxy.host, ping);
  // The inventory's names join the host CA's patterns; a proxy without the route (older) has none.
  let nodeNames: string[] = [];
  try {
    nodeNames = (await pinned(certs.token).call(webApiRoutes.listNodes)).map((n) => n.name);
  } catch (err) {
    if (err instanceof TollgateError && err.kind === 'access-denied') throw err;
  }
  const sshHost = (parseHostPort(sshProxy, 3023) as { host: string }).host;
  const ca = hostCaLine(certs.host_ca, hostCaPatterns(ping.cluster_name, [proxy.host, sshHost], nodeNames));
  const paths = req.profiles.keyPaths(name, certs.user);
  req.profiles.writeSecret(paths.key, await privateKeyToOpenSSH(key.privateKey, certs.user));
  req.profiles.writeSecret(paths.pub, `${publicKeyLine(key.publicBlob, certs.user)}\n`);
  req.profiles.writeSecret(paths.cert, `${certs.cert}\n`);
  req.profiles.trustHostCa(ca.line, ping.cluster_name);
  req.profiles.trustHostCa(`@cert-authority * ${ca.key}`, ping.cluster_name, req.profiles.proxiedKnownHostsFile);

  let agent: LoginResult['agent'] = { added: false, reason: 'not requested (--add-keys-to-agent=no)' };
  if (req.addKeysToAgent !== 'no') {
    if (!req.agent) {
      agent = { added: false, reason: 'no ssh-agent is running (SSH_AUTH_SOCK is not set)' };
    } else {
      const lifetime = Math.floor((Date.parse(certs.valid_before) - now().getTime()) / 1000);
      try {
        await req.agent.addCertificate(key.privateKey, certBlob, `tollgate:${certs.user}@${ping.cluster_name}`, lifetime);
        agent = { added: true, socket: req.agent.socketPath };
      } catch (err) {
        if (req.addKeysToAgent === 'yes') throw err;
        agent = { added: false, reason: (err as Error).message };
      }
    }
  }

  const profile: Profile = {
    name,
    web_proxy_addr: formatHostPort(proxy),
    ssh_proxy_addr: sshProxy,
    user: certs.user,
    cluster: ping.cluster_name,
    logins: certs.logins,
    valid_before: certs.valid_before,
    ...(trust.pin ? { tls_pin: trust.pin } : {}),
    token: certs.token,
    key_file: paths.key,
    cert_file: paths.cert,
    agent_socket: agent.added ? agent.socket : null,
    ...(ping.recording_signers ? { recording_signers: ping.recording_signers } : {}),
  };
  req.profiles.save(profile);
  return { profile, agent, extensions: Object.keys(cert.extensions).sort(), trust: trust.how };
}

/**
 * tsh logout: removes the key from the agent (by its certificate and by its bare key), tells the
 * proxy to end the bearer token, and deletes the profile and key files.
 */
export async function logout(profiles: ProfileStore, agent: AgentClient | undefined): Promise<Profile[]> {
  const { default: fs } = await import('node:fs');
  const removed: Profile[] = [];
  for (const name of profiles.names()) {
    const p = profiles.load(name);
    if (!p) continue;
    if (agent) {
      for (const file of [p.cert_file, `${p.key_file}.pub`]) {
        try {
          await agent.remove(parsePublicKeyLine(fs.readFileSync(file, 'utf8')).blob);
        } catch {
          // not in this agent, or the file is gone: nothing to remove
        }
      }
    }
    try {
      await profileWebClient(p).call(webApiRoutes.logout);
    } catch {
      // the proxy may be unreachable; the token expires with the certificate anyway
    }
    profiles.remove(name);
    removed.push(p);
  }
  return removed;
}
