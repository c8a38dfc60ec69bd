/** tsh's profile: the profile dir (~/.tsh or TELEPORT_HOME), the active profile, its keys and known_hosts, and the proxy address it names. No network, no ssh2. */
export { type Profile, profileDirFromEnv, ProfileStore } from './profile.js';
export { DEFAULT_WEB_PORT, parseProxyAddress } from './proxy-address.js';
