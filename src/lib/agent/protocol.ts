/** ssh-agent message numbers (draft-miller-ssh-agent §5.1), shared by tollgate's agent client and server. */
export const SSH_AGENT_FAILURE = 5;
export const SSH_AGENT_SUCCESS = 6;
export const SSH_AGENTC_REQUEST_IDENTITIES = 11;
export const SSH_AGENT_IDENTITIES_ANSWER = 12;
export const SSH_AGENTC_SIGN_REQUEST = 13;
export const SSH_AGENT_SIGN_RESPONSE = 14;
export const SSH_AGENTC_ADD_IDENTITY = 17;
export const SSH_AGENTC_REMOVE_IDENTITY = 18;
export const SSH_AGENTC_ADD_ID_CONSTRAINED = 25;
export const SSH_AGENT_CONSTRAIN_LIFETIME = 1;
/** Messages larger than this are refused: identity lists and signatures are a few KiB. */
export const MAX_AGENT_MESSAGE = 256 * 1024;
