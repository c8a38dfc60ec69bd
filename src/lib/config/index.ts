export * from './address.js';
export * from './config.js';
export { loadConfig, parseConfigText, readConfigFile, type ConfigInputs } from './load.js';
export { parseSize } from './size.js';
