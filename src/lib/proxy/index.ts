/** The proxy part's public surface: what other folders may use. */
export { HostCertificates, proxyPrincipals } from './host-certs.js';
export { nodeHostKeyCheck } from './node-host-keys.js';
export { startSshProxy } from './proxy-server.js';
export { UnrecordedSessions } from './session/index.js';
export { TargetPolicy } from './targets.js';
export { UpstreamConnector } from './upstream.js';
