export { WireReader, WireWriter } from './wire.js';
