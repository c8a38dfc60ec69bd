/** The install part's public surface: service files for running the daemon. */
export { type SystemdUnitOptions, systemdUnit } from './systemd-unit.js';
