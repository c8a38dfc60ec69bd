import crypto from 'node:crypto';
import type * as Ssh2 from 'ssh2';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { clientSessionPlan } from '../../src/lib/proxy/client-session.js';
import { startClientSession } from '../../src/lib/proxy/session/index.js';
import type { Upstream, UpstreamConnector } from '../../src/lib/proxy/upstream.js';
import type { NodeRecord } from '../../src/lib/store/types.js';
import { FakeClient, FakeNode } from '../helpers/fake-channels.js';
import { pipelineDeps } from '../helpers/pipeline-server.js';
import { sessionFixture, type SessionFixture } from '../helpers/session-fixture.js';

/*
 * The web terminal's way through the session pipeline (startClientSession): the browser has no
 * certificate and no agent, so only registered nodes are reached, with a minted per-session
 * certificate; the session is recorded and audited as `client: web`.
 */
describe('web terminal sessions through the pipeline', () => {
  let f: SessionFixture;
  const node1: NodeRecord = { name: 'node1', host: '127.0.0.1', port: 2222, labels: { env: 'prod' }, addedBy: 'admin', createdAt: 0, hostKeyFingerprint: null };
  const minted: string[] = [];
  let dialled: Array<{ host: string; port: number; cert: boolean }> = [];
  let nodeSide: FakeNode | undefined;

  const upstream: Pick<UpstreamConnector, 'connect'> = {
    async connect(req) {
      dialled.push({ host: req.target.host, port: req.target.port, cert: Boolean(req.sessionCert) });
      const up: Upstream = {
        async openSession() {
          const node = new FakeNode();
          nodeSide = node;
          let exit: { code: number; signal: null } | undefined;
          setImmediate(() => node.print('root@node1:~# '));
          // The node echoes the typed line's result, then exits on "exit".
          const origWrite = node._write.bind(node);
          node._write = (chunk: Buffer, enc: BufferEncoding, cb: () => void) => {
            origWrite(chunk, enc, cb);
            if (chunk.toString().includes('exit')) {
              exit = { code: 0, signal: null };
              node.close();
            } else node.print('web-9\r\nroot@node1:~# ');
          };
          return { stream: node as unknown as Ssh2.ClientChannel, exit: () => exit };
        },
        onLost() {},
        close() {},
      };
      return up;
    },
  };

  const deps = () =>
    pipelineDeps(f, {
      upstream,
      findNode: async (host) => (host === 'node1' ? node1 : undefined),
      mintSessionCert: async (req) => {
        minted.push(`${req.user}/${req.login}/${req.sessionId}`);
        return { privateKey: crypto.generateKeyPairSync('ed25519').privateKey, certBlob: Buffer.alloc(0) };
      },
    });
  const plan = (over: { node?: string; login?: string } = {}) =>
    clientSessionPlan({ user: 'joe', logins: ['joe', 'root'], validUntil: new Date(Date.now() + 3_600_000), issuedAt: new Date(), clientAddr: '192.0.2.7', node: over.node ?? 'node1', login: over.login ?? 'root', cols: 100, rows: 30 });
  const until = async (cond: () => boolean) => {
    for (let i = 0; i < 200 && !cond(); i++) await new Promise((r) => setTimeout(r, 10));
    expect(cond()).toBe(true);
  };

  beforeEach(async () => {
    f = await sessionFixture();
    minted.length = 0;
    dialled = [];
    nodeSide = undefined;
  });
  afterEach(() => f.close());

  it('reaches a registered node with a minted certificate, records the session as a web shell, follows resizes', async () => {
    const client = new FakeClient();
    const started = startClientSession(plan(), client, deps());
    await until(() => client.text().includes('# '));
    expect(dialled).toEqual([{ host: '127.0.0.1', port: 2222, cert: true }]);
    expect(minted).toHaveLength(1);
    expect(minted[0]).toMatch(/^joe\/root\//);
    await until(() => started.live() !== undefined);
    started.live()!.resize({ cols: 120, rows: 40, width: 0, height: 0 });
    expect(nodeSide!.windows.at(-1)).toEqual([120, 40]);
    client.send('echo web-$((3*3))\r');
    await until(() => client.text().includes('web-9'));
    client.send('exit\r');
    await until(() => client.exitStatus === 0);
    const [s] = await f.store.listSessions({});
    expect(s).toMatchObject({ kind: 'shell', user: 'joe', login: 'root', node: 'node1', clientAddr: '192.0.2.7', exitStatus: 0 });
    const [start] = await f.store.listEvents({ types: ['session.start'] });
    expect(start!.fields).toMatchObject({ sid: s!.id, client: 'web', upstream_auth: 'session-cert', pty: true });
  });

  it('refuses an unregistered target (there is no agent to borrow) and a login the user does not have, audited', async () => {
    const legacy = new FakeClient();
    startClientSession(plan({ node: '198.51.100.1' }), legacy, deps());
    await until(() => legacy.exitStatus !== undefined);
    expect(legacy.stderrText.join('')).toMatch(/agent/);
    const wrongLogin = new FakeClient();
    startClientSession(plan({ login: 'admin' }), wrongLogin, deps());
    await until(() => wrongLogin.exitStatus !== undefined);
    expect(wrongLogin.stderrText.join('')).toMatch(/may not log in as admin/);
    expect(dialled).toEqual([]);
    expect(minted).toEqual([]);
    const rejected = await f.store.listEvents({ types: ['session.rejected'] });
    expect(rejected.map((e) => e.fields.reason).sort()).toEqual(['login admin not allowed', 'no agent forwarding']);
  });
});
