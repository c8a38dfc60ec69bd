/** The agent part's public surface: what other folders may use. */
export { AgentClient, type AgentIdentity } from './agent-client.js';
export { type AgentIdentityKey, serveAgent } from './agent-server.js';
export { type AgentKey, type AgentReply, type AgentSource, AgentStream, openAgentStream, withAgent } from './agent-stream.js';
export { SSH_AGENT_FAILURE, SSH_AGENT_IDENTITIES_ANSWER, SSH_AGENT_SIGN_RESPONSE, SSH_AGENTC_REQUEST_IDENTITIES, SSH_AGENTC_SIGN_REQUEST } from './protocol.js';
