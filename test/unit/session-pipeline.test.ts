import fs from 'node:fs';
import path from 'node:path';
import ssh2 from 'ssh2';
import type * as Ssh2 from 'ssh2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Auditor } from '../../src/lib/audit/index.js';
import { nullLogger } from '../../src/lib/log.js';
import type { Upstream, UpstreamConnector } from '../../src/lib/proxy/upstream.js';
import type { PipelineDeps, Target } from '../../src/lib/proxy/session/index.js';
import { RecordingService } from '../../src/lib/recording/session-recorder.js';
import { LocalDirStorage } from '../../src/lib/recording/storage.js';
import { pipelineDeps, startPipelineServer } from '../helpers/pipeline-server.js';
import { FakeNode } from '../helpers/fake-channels.js';
import { sessionFixture, type SessionFixture } from '../helpers/session-fixture.js';

/**
 * The whole session pipeline in-process: a real ssh2 client and server on loopback port 0, the
 * real recording service and store, and a fake node behind a fake upstream connector.
 */

type NodeScript = (node: FakeNode, setExit: (code: number) => void, command: string | null) => void;

/** A node that runs `script` for each session, and remembers what it was asked. */
function fakeUpstream(script: NodeScript, opts: { failConnect?: string } = {}) {
  const asked: Array<{ target: Target; command: string | null }> = [];
  const connector: Pick<UpstreamConnector, 'connect'> = {
    async connect(req) {
      if (opts.failConnect) throw new Error(opts.failConnect);
      const up: Upstream = {
        async openSession(s) {
          asked.push({ target: req.target, command: s.command });
          const node = new FakeNode();
          let exit: { code: number; signal: null } | undefined;
          setImmediate(() => script(node, (code) => (exit = { code, signal: null }), s.command));
          return { stream: node as unknown as Ssh2.ClientChannel, exit: () => exit };
        },
        onLost() {},
        close() {},
      };
      return up;
    },
  };
  return { connector, asked };
}

const echoNode: NodeScript = (node, setExit, command) => {
  node.print(`ran ${command}\n`);
  setExit(7);
  node.close();
};

interface Result {
  stdout: string;
  stderr: string;
  code: number | null;
}

function exec(port: number, command: string): Promise<Result> {
  return new Promise((resolve, reject) => {
    const client = new ssh2.Client();
    client.on('error', reject);
    client.on('ready', () =>
      client.exec(command, (err, stream) => {
        if (err) return reject(err);
        let stdout = '';
        let stderr = '';
        let code: number | null = null;
        stream.on('data', (d: Buffer) => (stdout += d.toString()));
        stream.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
        stream.on('exit', (c: number | null) => (code = c));
        stream.on('close', () => {
          client.end();
          resolve({ stdout, stderr, code });
        });
      }),
    );
    client.connect({ host: '127.0.0.1', port, username: 'root' });
  });
}

describe('session pipeline (in-process: ssh2 client and server, fake node)', () => {
  let f: SessionFixture;
  beforeAll(async () => {
    f = await sessionFixture();
  });
  afterAll(() => f.close());

  const deps = (over: Partial<PipelineDeps> = {}) => pipelineDeps(f, { upstream: fakeUpstream(echoNode).connector, ...over });

  it('runs the command on the node, records it, and returns its exit status after the index is complete', async () => {
    const up = fakeUpstream(echoNode);
    const srv = await startPipelineServer(f, deps({ upstream: up.connector }), { login: 'root', host: 'node1', port: 22 });
    try {
      const r = await exec(srv.port, 'uname -a');
      expect(r).toEqual({ stdout: 'ran uname -a\n', stderr: '', code: 7 });
      expect(up.asked).toEqual([{ target: { login: 'root', host: 'node1', port: 22 }, command: 'uname -a' }]);
      const [s] = await f.store.listSessions({ limit: 1 });
      // "The command returned" means "the recording is there": the index has the end already.
      expect(s).toMatchObject({ user: 'joe', login: 'root', node: 'node1:22', kind: 'exec', command: 'uname -a', exitStatus: 7, endReason: 'exit' });
      const cast = fs.readFileSync(f.recordings.pathFor(s!.id), 'utf8');
      expect(cast).toContain('"ran uname -a\\n"');
      const events = (await f.auth.listEvents({ limit: 10 })).map((e) => e.event);
      expect(events).toEqual(expect.arrayContaining(['session.start', 'exec', 'session.end']));
    } finally {
      await srv.close();
    }
  });

  it('refuses a login the certificate does not name, tells the client, and audits the refusal', async () => {
    const srv = await startPipelineServer(f, deps(), { login: 'admin', host: 'node1', port: 22 });
    try {
      const r = await exec(srv.port, 'id');
      expect(r.code).toBe(1);
      expect(r.stderr).toBe('tollgate: joe may not log in as admin (allowed: joe, root)\r\n');
      const [e] = await f.auth.listEvents({ types: ['session.rejected'], limit: 1 });
      expect(e).toMatchObject({ user: 'joe', fields: { reason: 'login admin not allowed', login: 'admin', node: 'node1:22' } });
    } finally {
      await srv.close();
    }
  });

  it('a node that cannot be reached: status 255, the reason, audited', async () => {
    const srv = await startPipelineServer(f, deps({ upstream: fakeUpstream(echoNode, { failConnect: 'connect ECONNREFUSED' }).connector }), { login: 'root', host: 'node1', port: 22 });
    try {
      const r = await exec(srv.port, 'id');
      expect(r).toMatchObject({ code: 255, stderr: 'tollgate: cannot connect to root@node1:22: connect ECONNREFUSED\r\n' });
      const [e] = await f.auth.listEvents({ types: ['session.rejected'], limit: 1 });
      expect(e!.fields.reason).toBe('connect ECONNREFUSED');
    } finally {
      await srv.close();
    }
  });

  it('a session whose session.start cannot be audited does not start', async () => {
    const failing: Auditor = {
      record: (event, user, fields) => (event === 'session.start' ? Promise.reject(new Error('audit log unavailable')) : f.auth.auditor.record(event, user, fields)),
      emit: (event, user, fields) => f.auth.auditor.emit(event, user, fields),
    };
    const recordings = new RecordingService({
      store: f.store,
      storage: new LocalDirStorage(path.join(f.dir, 'recordings')),
      serverId: 'test-server',
      auditor: failing,
      clock: f.clock,
      maxExecRecordingSize: 1 << 20,
      recordInput: false,
      log: nullLogger,
    });
    const up = fakeUpstream(echoNode);
    const srv = await startPipelineServer(f, deps({ recordings, upstream: up.connector }), { login: 'root', host: 'node1', port: 22 });
    try {
      const r = await exec(srv.port, 'id');
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/^tollgate: cannot start the session recording: audit log unavailable/);
      expect(up.asked).toEqual([]);
    } finally {
      await srv.close();
    }
  });

  it('feeds optional taps, and a session goes on when one of them fails', async () => {
    const seen: string[] = [];
    const srv = await startPipelineServer(f, 
      deps({
        optionalTaps: () => [
          { name: 'watcher', deliver: (events) => void events.forEach((e) => e.type === 'output' && seen.push(e.data.toString())) },
          { name: 'broken', deliver: () => Promise.reject(new Error('index unavailable')) },
        ],
      }),
      { login: 'root', host: 'node1', port: 22 },
    );
    try {
      const r = await exec(srv.port, 'date');
      expect(r).toMatchObject({ stdout: 'ran date\n', code: 7 });
      expect(seen.join('')).toBe('ran date\n');
      const [e] = await f.auth.listEvents({ types: ['session.tap_dropped'], limit: 1 });
      expect(e).toMatchObject({ user: 'joe', fields: { tap: 'broken', reason: 'failed: index unavailable' } });
    } finally {
      await srv.close();
    }
  });
});
