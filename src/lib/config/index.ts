/** The config part's public surface: what other folders may use. */
export { type Config, type DataDirSource, DEFAULTS, type Role, type StorageConfig } from './config.js';
export { type ConfigInputs, defaultKeysFile, loadConfig, parseConfigText, readConfigFile } from './load.js';
export { parseSize } from './size.js';
