import fs from 'node:fs';
import type * as Ssh2 from 'ssh2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Upstream, UpstreamConnector } from '../../src/lib/proxy/upstream.js';
import type { PipelineDeps, Target } from '../../src/lib/proxy/session/index.js';
import { connectClient, pipelineDeps, startPipelineServer } from '../helpers/pipeline-server.js';
import { FakeNode } from '../helpers/fake-channels.js';
import { sessionFixture, type SessionFixture } from '../helpers/session-fixture.js';

/*
 * The session pipeline when things go wrong at the edges (found by an independent review; each
 * test failed before its fix): a resize while the node is dialled, an optional tap that hangs,
 * a signal ssh2 has no name for.
 */

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const target: Target = { login: 'root', host: 'node1', port: 22 };

describe('session pipeline: faults at the edges', () => {
  let f: SessionFixture;
  beforeAll(async () => {
    f = await sessionFixture();
  });
  afterAll(() => f.close());

  const deps = (over: Partial<PipelineDeps>) => pipelineDeps(f, over);

  // A window change while the node opens the channel reaches the node (setWindow from the plan)
  // and must reach the recording too, or playback renders at the start size.
  it('records a resize that arrives while the node opens the session', async () => {
    let node: FakeNode | undefined;
    const upstream: Pick<UpstreamConnector, 'connect'> = {
      async connect() {
        const up: Upstream = {
          async openSession() {
            await sleep(300); // the client resizes meanwhile
            node = new FakeNode();
            const n = node;
            let exit: { code: number; signal: null } | undefined;
            setTimeout(() => {
              n.print('hi\r\n');
              exit = { code: 0, signal: null };
              n.close();
            }, 100);
            return { stream: n as unknown as Ssh2.ClientChannel, exit: () => exit };
          },
          onLost() {},
          close() {},
        };
        return up;
      },
    };
    const srv = await startPipelineServer(f, deps({ upstream }), target);
    const client = await connectClient(srv.port);
    try {
      await new Promise<void>((resolve, reject) =>
        client.shell({ cols: 80, rows: 24, term: 'xterm' }, (err, stream) => {
          if (err) return reject(err);
          setTimeout(() => stream.setWindow(50, 132, 0, 0), 100);
          stream.on('data', () => {});
          stream.on('close', () => resolve());
        }),
      );
      expect(node!.windows.at(-1)).toEqual([132, 50]); // the node got it
      const [s] = await f.store.listSessions({ limit: 1 });
      const cast = fs.readFileSync(f.recordings.pathFor(s!.id), 'utf8');
      expect(cast).toMatch(/"r",\s*"132x50"/);
    } finally {
      client.end();
      await srv.close();
    }
  });

  // An optional tap is never waited for beyond its bound: one whose deliver() never settles is
  // dropped (and audited) at the end of the session, and the client gets its exit status.
  it('an optional tap that hangs does not hold the exit status', async () => {
    const upstream: Pick<UpstreamConnector, 'connect'> = {
      async connect() {
        return {
          async openSession() {
            const n = new FakeNode();
            let exit: { code: number; signal: null } | undefined;
            setImmediate(() => {
              n.print('x\n');
              exit = { code: 5, signal: null };
              n.close();
            });
            return { stream: n as unknown as Ssh2.ClientChannel, exit: () => exit };
          },
          onLost() {},
          close() {},
        };
      },
    };
    const srv = await startPipelineServer(f, deps({ upstream, optionalTaps: () => [{ name: 'stuck', deliver: () => new Promise<void>(() => {}) }], optionalTapCloseMs: 200 }), target);
    const client = await connectClient(srv.port);
    try {
      const code = await Promise.race([
        new Promise<number | null>((resolve, reject) =>
          client.exec('true', (err, stream) => {
            if (err) return reject(err);
            let c: number | null = null;
            stream.on('data', () => {});
            stream.on('exit', (x: number | null) => (c = x));
            stream.on('close', () => resolve(c));
          }),
        ),
        sleep(3000).then(() => 'hung' as const),
      ]);
      expect(code).toBe(5);
      const [e] = await f.auth.listEvents({ types: ['session.tap_dropped'], limit: 1 });
      expect(e).toMatchObject({ fields: { tap: 'stuck', reason: expect.stringMatching(/did not finish within 200 ms/) } });
    } finally {
      client.end();
      await srv.close();
    }
  });
  // A node process killed by a signal OpenSSH has no name for (BUS, SYS, XCPU, TRAP, ...) is
  // reported by sshd as exit-signal "SIG@openssh.com" (sig2name). ssh2's client gives
  // "SIGSIG@openssh.com"; relay.ts strips "SIG" and calls client.exit("SIG@openssh.com"), which
  // ssh2's Protocol.exitSignal refuses with a throw inside `void finish(...).then(...)`: an
  // unhandled rejection, which ends the whole daemon under Node 20. Any user: `kill -BUS $$`.
  // The relay sends exit status 255 instead, as ssh reports a signal.
  it('a node session killed by an unnamed signal does not throw out of the relay', async () => {
    const upstream: Pick<UpstreamConnector, 'connect'> = {
      async connect() {
        return {
          async openSession() {
            const n = new FakeNode();
            let exit: { code: null; signal: string } | undefined;
            setImmediate(() => {
              exit = { code: null, signal: 'SIGSIG@openssh.com' };
              n.close();
            });
            return { stream: n as unknown as Ssh2.ClientChannel, exit: () => exit };
          },
          onLost() {},
          close() {},
        };
      },
    };
    const unhandled: unknown[] = [];
    const onUnhandled = (e: unknown) => unhandled.push(e);
    process.on('unhandledRejection', onUnhandled);
    const srv = await startPipelineServer(f, deps({ upstream }), target);
    const client = await connectClient(srv.port);
    try {
      const code = await Promise.race([
        new Promise<number | null>((resolve, reject) =>
          client.exec('kill -BUS $$', (err, stream) => {
            if (err) return reject(err);
            let c: number | null = null;
            stream.on('data', () => {});
            stream.on('exit', (x: number | null) => (c = x));
            stream.on('close', () => resolve(c));
          }),
        ),
        sleep(1500).then(() => 'hung' as const),
      ]);
      await sleep(100);
      expect(unhandled.map((e) => String(e))).toEqual([]);
      expect(code).toBe(255);
    } finally {
      process.off('unhandledRejection', onUnhandled);
      client.end();
      await srv.close();
    }
  });
});
