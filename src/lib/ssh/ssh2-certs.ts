/*
 * OpenSSH certificate support for ssh2 1.17.0 (which has none). One import for the proxy:
 *   createCertAgent      client: log in with the certificates in an ssh-agent (local or forwarded)
 *   verifyUserCertAuth   server: check a user certificate and its signature in 'authentication'
 *   openForwardedAgent   server: open the auth-agent@openssh.com channel back to the client
 *   hostKeyWithCertificate / plainHostKey   server: present a host certificate
 *   hostCertVerifier     client: verify the server's host certificate (host CA, principal)
 *   installSsh2CertPatches                 the runtime ssh2 patches (ssh2-patches.ts); the
 *                                          helpers above install them themselves
 * Pinned to ssh2 1.17.0: installSsh2CertPatches throws on any other version.
 */
export { openForwardedAgent, AUTH_AGENT_CHANNEL } from './agent-forwarding.js';
export { AgentStream, withAgent, type AgentKey, type AgentSource } from '../agent/index.js';
export { CertAgent, createCertAgent, type CertAgentOptions } from './cert-agent.js';
export { CERT_SIGNATURE_ALGORITHMS, certifiedKey, certPublicKey, certSignatureAlgorithm, openSshPrivateKeyText, ssh2PrivateKey } from './cert-keys.js';
export { hostKeyWithCertificate, plainHostKey } from './host-cert.js';
export { verifyUserCertAuth, type CertAuthCheck, type CertAuthRequest, type CertAuthResult } from './server-cert-auth.js';
export { assertSsh2Version, SUPPORTED_SSH2_VERSION, type Ssh2Key } from './ssh2-internals.js';
export { installSsh2CertPatches } from './ssh2-patches.js';
export { HOST_CERT_ALGORITHMS, HOST_DENIED_MESSAGE, hostCertVerifier, type HostCertVerifier, type HostCertVerifierOptions, type PresentedHostKey } from './client-host-cert.js';
