/** SSH wire encoding (RFC 4251 §5), the leaf that certificates, agent messages and signatures share. */
export { WireReader, WireWriter } from './ssh-wire.js';
