/** The ssh part's public surface: what other folders may use. */
export { openForwardedAgent } from './agent-forwarding.js';
export { createCertAgent } from './cert-agent.js';
export { hostCertVerifier, type HostCertVerifier } from './client-host-cert.js';
export { hostKeyWithCertificate, plainHostKey } from './host-cert.js';
export { verifyUserCertAuth } from './server-cert-auth.js';
export { assertSsh2Patched } from './ssh2-patch.js';
