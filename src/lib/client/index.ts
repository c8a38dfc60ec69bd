/** The client part's public surface: what other folders may use. */
export { AdminClient } from './admin-client.js';
export { type AddKeysToAgent, hostCaPatterns, login, type LoginRequest, type LoginResult, logout } from './login.js';
export { changedKeyError, decideTrust, profileWebClient, type TrustDecision } from './proxy-trust.js';
export { downloadRecording, recordingKey } from './recording-fetch.js';
export { renderSshConfig } from './ssh-config.js';
export { type TlsProbe, WebClient } from './web-client.js';
