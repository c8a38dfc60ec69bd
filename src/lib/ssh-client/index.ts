/** tsh's SSH half: one connection to the proxy, sessions on it, the proxy's host certificate checked. Loads ssh2, so only the commands that open SSH import it. */
export { proxyHostKeyOptions } from './proxy-host-key.js';
export { DETACH_KEY, joinKeys, runSsh } from './ssh-session.js';
