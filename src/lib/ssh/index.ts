/*
 * OpenSSH certificate support for ssh2 1.17.0 (which has none). Its public surface:
 *   createCertAgent      client: log in with the certificates in an ssh-agent (local or forwarded)
 *   verifyUserCertAuth   server: check a user certificate and its signature in 'authentication'
 *   openForwardedAgent   server: open the auth-agent@openssh.com channel back to the client
 *   hostKeyWithCertificate / plainHostKey   server: present a host certificate
 *   hostCertVerifier     client: verify the server's host certificate (host CA, principal)
 *   SSH_CIPHERS          the cipher order every tollgate ssh2 end offers (by measured cost)
 *   assertSsh2Patched    the check that patches/ssh2+1.17.0.patch (the wire-level changes all of
 *                        the above rely on) is applied to node_modules/ssh2; called once by the
 *                        composition roots (the daemon's runtime, tsh's SSH session)
 */
export { openForwardedAgent, AUTH_AGENT_CHANNEL } from './agent-forwarding.js';
export { cipherAlgorithms, SSH_CIPHERS } from './ciphers.js';
export { CertAgent, createCertAgent, type CertAgentOptions } from './cert-agent.js';
export { CERT_SIGNATURE_ALGORITHMS, certifiedKey, certPublicKey, certSignatureAlgorithm, openSshPrivateKeyText, ssh2PrivateKey } from './cert-keys.js';
export { hostKeyWithCertificate, plainHostKey } from './host-cert.js';
export { verifyUserCertAuth, type CertAuthCheck, type CertAuthRequest, type CertAuthResult } from './server-cert-auth.js';
export { type Ssh2Key } from './ssh2-internals.js';
export { assertSsh2Patched, SSH2_PATCH_FILE, SSH2_PATCH_REVISION, SUPPORTED_SSH2_VERSION, type InstalledSsh2 } from './ssh2-patch.js';
export { HOST_CERT_ALGORITHMS, HOST_DENIED_MESSAGE, hostCertVerifier, type HostCertVerifier, type HostCertVerifierOptions, type PresentedHostKey } from './client-host-cert.js';
