/** One session channel's way through the proxy: plan, authorization, relay and taps. */
export { authorizeSession, authorizeTunnel, identityRefusal, type Authorization, type AuthorizationFacts } from './authorize.js';
export { authorizationFacts, DRAINING_LINE, handleSession, type RevocationSource, OPTIONAL_TAP_BUFFER_BYTES, startClientSession, type LiveHooks, type LiveSessionControls, type LiveTap, type PipelineDeps, type ProxyServices, upstreamCredentials } from './pipeline.js';
export { nodeName, parseTarget, type Identity, type PtyInfo, type SessionPlan, type Target } from './plan.js';
export { recorderTap, type SessionRecorder, type SessionRecording, type SftpRecording } from './recorder-tap.js';
export { refuseChannel, relaySession, type ClientChannel, type ExitInfo, type NodeChannel, type Relay, type RelayOptions } from './relay.js';
export { collectSessionRequests, type ConnectionContext, type LiveControls, type WindowSize } from './requests.js';
export { createOptionalTap, SessionTaps, type OptionalTapOptions, type SessionEnd, type SessionTap, type TapConsumer, type TapEvent } from './taps.js';
export { NO_LIMITS, watchLimits, type LimitReached, type SessionLimits } from './limits.js';
export { UnrecordedSessions } from './unrecorded.js';
export { lockedLine, lockedReason, matchingLock, type LockSubject } from './lock-match.js';
