/** The auth part's public surface: what other folders may use. */
export { AuthService, type AuthServiceOptions, type ExportFormat, HOST_CERT_TTL_DEFAULT_MS, type PublicUser, SESSION_CERT_TTL_MS, type SessionCredentials, SIGNUP_TTL_DEFAULT_MS, SIGNUP_TTL_MAX_MS, type SignupInvite, USER_CERT_TTL_DEFAULT_MS } from './auth-service.js';
export { type Credentials, type LoginCert, LoginService, type LoginServiceOptions, type SignupInfo } from './login-service.js';
export { type KrlExport, LOCK_KINDS, LOCK_MESSAGE_MAX, LockService, type PublicLock, publicLock } from './locks.js';
export { ADDRESS_DELAY_BASE_MS, AddressThrottle, LOGIN_FAILURE_WINDOW_MS, LOGIN_FREE_FAILURES, USER_LOCK_AFTER, userLockMs } from './login-throttle.js';
export { PASSWORD_MIN_LENGTH } from './passwords.js';
export { parseHostNames, parseLogins, parseRoles, ROLES, validateUserName } from './validate.js';
export { JOIN_TOKEN_TTL_DEFAULT_MS, JOIN_TOKEN_TTL_MAX_MS, type JoinTokenGrant, NODE_DEFAULT_PORT, NodeInventory, type NodeJoinGrant, type NodeJoinRequest, type PublicNode, publicNode, userMayReach, validateNodeName } from './inventory.js';
export { fileKeySource, fixedKeySource, isSealed, KEK_BYTES, type KeySource, SEALED_PREFIX } from './sealed-keys.js';
