/** The web part's public surface: what other folders may use. */
export { loadOrCreateTls, SELF_SIGNED_CERT, SELF_SIGNED_KEY, type TlsMaterial } from './tls.js';
export { createWebApp, MAX_BODY_BYTES, type WebAppOptions } from './web-app.js';
export { HEADERS_TIMEOUT_MS, KEEP_ALIVE_TIMEOUT_MS, MAX_HEADER_BYTES, MAX_WEB_CONNECTIONS, REQUEST_TIMEOUT_MS, SOCKET_IDLE_TIMEOUT_MS, startWebServer, TLS_HANDSHAKE_TIMEOUT_MS, type WebServer } from './web-server.js';
export type { TerminalChannel, WebTerminals } from './web-terminal.js';
