/** The openssh-node part's public surface: what `teleport join openssh` runs on the node itself. */
export { joinOpenSshNode, RENEW_BEFORE_MS, type JoinOptions, type JoinRedeemer, type JoinReport, type NodeJoinGrant, type NodeJoinRequest } from './join.js';
export { DEFAULT_DATA_DIR, DEFAULT_SSHD_CONFIG, nodeFiles, type JoinState, type NodeFiles } from './node-files.js';
export { DROP_IN_NAME } from './sshd-config.js';
export { DEFAULT_SSHD } from './sshd-control.js';
