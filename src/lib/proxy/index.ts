/** The proxy part's public surface: what other folders may use. */
export { HostCertificates, proxyPrincipals } from './host-certs.js';
export { nodeHostKeyCheck } from './node-host-keys.js';
export { startSshProxy, type SshProxy } from './proxy-server.js';
export { DRAINING_LINE, UnrecordedSessions, type SessionPlan, type TapConsumer, type TapEvent } from './session/index.js';
export { TargetPolicy } from './targets.js';
export { UpstreamConnector } from './upstream.js';
export { createLiveScreenWorker, DEFAULT_MAX_VIEWERS, endedByAdminLine, joinRefusal, LiveDirectory, LiveSessions, type ActiveSession, type JoinMode, type LiveSessionInfo, type Participant } from './live/index.js';
export type { ClientSessionRequest } from './client-session.js';
export type { ClientChannel } from './session/index.js';
