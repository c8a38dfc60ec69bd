import ssh2 from 'ssh2';
import { nullLogger } from '../../src/lib/log.js';
import { handleSession, type ConnectionContext, type PipelineDeps, type Target } from '../../src/lib/proxy/session/index.js';
import type { SessionFixture } from './session-fixture.js';
import { testHostKey } from './ssh2-host-key.js';

/** The pipeline's dependencies over a session fixture; `over` replaces any of them. */
export function pipelineDeps(f: SessionFixture, over: Partial<PipelineDeps> = {}): PipelineDeps {
  return {
    recordings: f.recordings,
    upstream: { connect: () => Promise.reject(new Error('no upstream in this test')) },
    auditor: f.auth.auditor,
    clock: f.clock,
    log: nullLogger,
    lookupUser: async (name) => (await f.store.getUser(name)) ?? undefined,
    forwardAgentToNodes: false,
    ...over,
  };
}

/**
 * An ssh2 server on 127.0.0.1 port 0 whose session channels go through the pipeline as joe's,
 * to `target` (as after `ssh -J` names it), with the agent forwarded. Authentication is not what
 * these tests are about: any client is accepted.
 */
export async function startPipelineServer(f: SessionFixture, deps: PipelineDeps, target: Target): Promise<{ port: number; close(): Promise<void> }> {
  const server = new ssh2.Server({ hostKeys: [testHostKey()] }, (conn) => {
    conn.on('authentication', (ctx) => ctx.accept());
    conn.on('ready', () => {
      const cctx: ConnectionContext = { identity: f.joe, target, agentRequested: true, openAgent: () => Promise.reject(new Error('no agent in this test')) };
      conn.on('session', (accept) => handleSession(accept(), cctx, deps));
    });
    conn.on('error', () => {});
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as { port: number }).port,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

/** An ssh2 client connected to `port`. */
export function connectClient(port: number): Promise<ssh2.Client> {
  return new Promise((resolve, reject) => {
    const c = new ssh2.Client();
    c.on('error', reject);
    c.on('ready', () => resolve(c));
    c.connect({ host: '127.0.0.1', port, username: 'root' });
  });
}
