import { describe, expect, it, vi } from 'vitest';
import { nullLogger } from '../../src/lib/log.js';
import { createOptionalTap, relaySession, SessionTaps, type ExitInfo, type SessionEnd, type SessionTap, type TapEvent } from '../../src/lib/proxy/session/index.js';
import { FakeClient, FakeNode } from '../helpers/fake-channels.js';

/** A mandatory tap that keeps what it is given and can be told to be "behind". */
class MemoryTap implements SessionTap {
  readonly name = 'memory';
  readonly events: TapEvent[] = [];
  behind = false;
  closedWith: SessionEnd | undefined;
  private waiting: Array<() => void> = [];
  write(e: TapEvent): boolean {
    this.events.push(e);
    return !this.behind;
  }
  onceDrained(cb: () => void): void {
    if (!this.behind) return cb();
    this.waiting.push(cb);
  }
  catchUp(): void {
    this.behind = false;
    for (const cb of this.waiting.splice(0)) cb();
  }
  async close(end: SessionEnd): Promise<void> {
    this.closedWith = end;
  }
  text(type: 'output' | 'input'): string {
    return Buffer.concat(this.events.flatMap((e) => (e.type === type ? [e.data] : []))).toString();
  }
}

const tick = () => new Promise((r) => setImmediate(r));

function setup(exit: ExitInfo | undefined = { code: 0, signal: null }) {
  const client = new FakeClient();
  const node = new FakeNode();
  const tap = new MemoryTap();
  const finished: string[] = [];
  const relay = relaySession({
    client,
    node,
    taps: new SessionTaps(tap, [], nullLogger),
    exit: () => exit,
    log: nullLogger,
    finish: async (end) => {
      finished.push(end.reason);
      client.log.push('finish');
      await tap.close(end);
    },
  });
  return { client, node, tap, relay, finished };
}

describe('relaySession', () => {
  it('ends at once when the client went away while the node was being dialled (its close event is gone)', async () => {
    const client = new FakeClient();
    client.destroy();
    await tick();
    const node = new FakeNode();
    const tap = new MemoryTap();
    const relay = relaySession({ client, node, taps: new SessionTaps(tap, [], nullLogger), exit: () => undefined, log: nullLogger, finish: (end) => tap.close(end) });
    await expect(relay.done).resolves.toMatchObject({ reason: 'client disconnected' });
    expect(node.closedByRelay).toBe(true);
  });

  it('relays both ways and gives every byte to the taps, stdout and stderr alike', async () => {
    const { client, node, tap } = setup();
    client.send('ls\n');
    node.print('file1\n');
    node.stderr.write('warning\n');
    await tick();
    expect(node.text()).toBe('ls\n');
    expect(client.text()).toBe('file1\n');
    expect(client.stderrText.join('')).toBe('warning\n');
    expect(tap.text('input')).toBe('ls\n');
    // The two streams are interleaved as they arrive; each one's bytes stay in order.
    expect(tap.text('output').length).toBe('file1\nwarning\n'.length);
    expect(tap.text('output')).toContain('file1\n');
    expect(tap.text('output')).toContain('warning\n');
  });

  it('finishes the recording before the client learns the exit status, after all output', async () => {
    const { client, node, relay, tap } = setup({ code: 3, signal: null });
    node.print('last words\n');
    node.close();
    const end = await relay.done;
    await tick();
    expect(end).toEqual({ exitStatus: 3, exitSignal: null, reason: 'exit' });
    expect(client.log).toEqual(['data', 'finish', 'exit:3', 'end']);
    expect(tap.events.at(-1)).toEqual({ type: 'exit', status: 3, signal: null });
    expect(tap.closedWith?.reason).toBe('exit');
  });

  it('a signal from the node reaches the client as a signal, without SIG', async () => {
    const { client, node, relay } = setup({ code: null, signal: 'SIGKILL' });
    node.close();
    await relay.done;
    await tick();
    expect(client.exitStatus).toBe('KILL');
  });

  it('pauses the node while the mandatory tap is behind, and resumes when it catches up', async () => {
    const { client, node, tap } = setup();
    tap.behind = true;
    node.print('a');
    await tick();
    expect(node.isPaused()).toBe(true);
    node.print('b');
    await tick();
    expect(client.text()).toBe('a');
    tap.catchUp();
    await tick();
    expect(node.isPaused()).toBe(false);
    expect(client.text()).toBe('ab');
  });

  it('the client going away closes the node side and ends the session once', async () => {
    const { client, node, relay, finished } = setup();
    client.destroy();
    expect((await relay.done).reason).toBe('client disconnected');
    expect(node.closedByRelay).toBe(true);
    await tick();
    expect(finished).toEqual(['client disconnected']);
  });

  it('the client\'s EOF is passed on to the node', async () => {
    const { client, node } = setup();
    client.send('data');
    client.push(null);
    await tick();
    await tick();
    expect(node.inputEnded).toBe(true);
    expect(node.text()).toBe('data');
  });

  it('stop() tells the client why, with status 255, and ends the session once', async () => {
    const { client, node, relay, finished } = setup();
    relay.stop('recording failed: ENOSPC', 'tollgate: the session recording failed (ENOSPC)');
    relay.stop('again', 'again');
    expect((await relay.done).reason).toBe('recording failed: ENOSPC');
    await tick();
    expect(client.stderrText.join('')).toBe('tollgate: the session recording failed (ENOSPC)\r\n');
    expect(client.exitStatus).toBe(255);
    expect(node.closedByRelay).toBe(true);
    expect(finished).toEqual(['recording failed: ENOSPC']);
  });
});

describe('optional taps', () => {
  it('get every event, in order and in batches, off the caller\'s turn', async () => {
    const batches: TapEvent[][] = [];
    const tap = createOptionalTap({ name: 'live', deliver: (b) => void batches.push([...b]) }, { maxBufferedBytes: 1 << 20, onDrop: () => {} });
    expect(tap.write({ type: 'output', data: Buffer.from('a') })).toBe(true);
    tap.write({ type: 'resize', cols: 100, rows: 30 });
    expect(batches).toEqual([]);
    await tick();
    expect(batches).toEqual([[{ type: 'output', data: Buffer.from('a') }, { type: 'resize', cols: 100, rows: 30 }]]);
  });

  it('one that falls behind its buffer is dropped once, and never slows the relay', async () => {
    const onDrop = vi.fn();
    let release!: () => void;
    const tap = createOptionalTap({ name: 'indexer', deliver: () => new Promise<void>((r) => (release = r)) }, { maxBufferedBytes: 1000, onDrop });
    tap.write({ type: 'output', data: Buffer.alloc(10) });
    await tick(); // the first batch is now being delivered, and never finishes
    for (let i = 0; i < 100; i++) expect(tap.write({ type: 'output', data: Buffer.alloc(100) })).toBe(true);
    expect(onDrop).toHaveBeenCalledTimes(1);
    expect(onDrop.mock.calls[0]![0]).toMatch(/fell behind by more than 1000 bytes/);
    release();
    await tap.close({ exitStatus: 0, exitSignal: null, reason: 'exit' });
  });

  it('one that throws is dropped with the reason; the mandatory tap is not affected', async () => {
    const onDrop = vi.fn();
    const memory = new MemoryTap();
    const broken = createOptionalTap({ name: 'broken', deliver: () => { throw new Error('boom'); } }, { maxBufferedBytes: 1000, onDrop });
    const taps = new SessionTaps(memory, [broken], nullLogger);
    taps.write({ type: 'output', data: Buffer.from('x') });
    await tick();
    expect(onDrop).toHaveBeenCalledWith('failed: boom');
    taps.write({ type: 'output', data: Buffer.from('y') });
    await taps.close({ exitStatus: 0, exitSignal: null, reason: 'exit' });
    expect(memory.text('output')).toBe('xy');
  });

  it('close() waits until what was buffered has been delivered', async () => {
    const seen: string[] = [];
    const tap = createOptionalTap(
      { name: 'slow', deliver: async (b) => { await new Promise((r) => setTimeout(r, 5)); for (const e of b) if (e.type === 'output') seen.push(e.data.toString()); }, close: () => void seen.push('closed') },
      { maxBufferedBytes: 1 << 20, onDrop: () => {} },
    );
    tap.write({ type: 'output', data: Buffer.from('1') });
    await tick();
    tap.write({ type: 'output', data: Buffer.from('2') });
    await tap.close({ exitStatus: 0, exitSignal: null, reason: 'exit' });
    expect(seen).toEqual(['1', '2', 'closed']);
  });
});

/**
 * A client whose SSH window is full (write callbacks held) when the node exits, and a stop()
 * (recording failed, node connection lost) while the relay waits to flush: the node's exit
 * status stands, and it goes out only after the recording is finished.
 */
class SlowClient extends FakeClient {
  private held: Array<() => void> = [];
  hold = true;
  override _write(chunk: Buffer, enc: BufferEncoding, cb: () => void): void {
    if (!this.hold) return super._write(chunk, enc, cb);
    this.held.push(() => super._write(chunk, enc, cb));
  }
  release(): void {
    this.hold = false;
    for (const f of this.held.splice(0)) f();
  }
}

describe('relaySession: the node\'s exit against a late stop()', () => {
  it('keeps the node exit status when stop() arrives while the exit is being flushed', async () => {
    const client = new SlowClient();
    const node = new FakeNode();
    let recordingDone = false;
    const tap: SessionTap = {
      name: 'rec',
      write: () => true,
      onceDrained: (cb) => cb(),
      close: async (_e: SessionEnd) => {
        await new Promise((r) => setTimeout(r, 50));
        recordingDone = true;
      },
    };
    const relay = relaySession({
      client,
      node,
      taps: new SessionTaps(tap, [], nullLogger),
      exit: () => ({ code: 0, signal: null }),
      log: nullLogger,
      finish: async (end) => {
        client.log.push(`finish:${end.reason}`);
        await tap.close(end);
        client.log.push('finished');
      },
    });
    node.print('out\n');
    await tick();
    node.close(); // the command exited 0; the client's window is full
    await tick();
    relay.stop('node connection lost: reset', 'tollgate: connection to node1:22 lost', 255);
    client.release();
    await relay.done;
    await new Promise((r) => setTimeout(r, 100));
    expect(recordingDone).toBe(true);
    expect(client.log.filter((l) => l.startsWith('exit:'))).toEqual(['exit:0']);
    expect(client.log.indexOf('finished')).toBeLessThan(client.log.indexOf('exit:0'));
  });
});
