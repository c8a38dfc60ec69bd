import type { Duplex, Readable, Writable } from 'node:stream';
import type { Logger } from '../../log.js';
import type { SessionEnd, SessionTaps } from './taps.js';

/** The client's session channel, as the relay uses it (an ssh2 ServerChannel). */
export interface ClientChannel extends Duplex {
  readonly stderr: Writable;
  exit(status: number): void;
  exit(signalName: string, coreDumped: boolean, errorMessage: string): void;
}

/** The node's session channel, as the relay uses it (an ssh2 ClientChannel). */
export interface NodeChannel extends Duplex {
  readonly stderr: Readable;
  close(): void;
}

export interface ExitInfo {
  code: number | null;
  signal: string | null;
}

export interface RelayOptions {
  client: ClientChannel;
  node: NodeChannel;
  taps: SessionTaps;
  /** The node's exit status or signal, once it has sent one. */
  exit(): ExitInfo | undefined;
  /** Runs once when the session is over, before the client learns the exit status. */
  finish(end: SessionEnd): Promise<void>;
  log: Logger;
}

export interface Relay {
  /** Ends the session from outside (recording failed, node lost): tells the client why, once. */
  stop(reason: string, line: string, status?: number): void;
  /** Resolves when the session is over and finish() has run. */
  readonly done: Promise<SessionEnd>;
}

/** Writes a line to the client's stderr, then the exit status and the channel's close. */
export function refuseChannel(channel: ClientChannel, line: string, status = 1): void {
  if (channel.destroyed) return;
  channel.stderr.write(`${line}\r\n`, () => {
    channel.exit(status);
    channel.end();
  });
}

/**
 * Sends the node's exit status or signal on to the client. ssh2 sends only the signal names of
 * RFC 4254 §6.10 and throws on any other (OpenSSH reports signals it has no name for, e.g. BUS or
 * SYS, as `SIG@openssh.com`); such a session ends with status 255, as ssh reports a signal.
 */
function sendExit(client: ClientChannel, status: number | null, signal: string | null): void {
  if (signal) {
    try {
      client.exit(signal.replace(/^SIG/, ''), false, '');
      return;
    } catch {
      status = 255;
    }
  }
  if (status !== null) client.exit(status);
}

/**
 * Relays one session both ways and feeds every byte to the taps.
 *
 * Backpressure: a source pauses while its sink (the other side's SSH window) or the mandatory
 * tap is behind, and resumes when both have caught up, so memory stays bounded per stream.
 *
 * Exit ordering: everything the node sent is written to the client before the exit status, and
 * finish() (which completes the recording and the session index) runs before the client learns
 * the exit status, so "the command returned" always means "the recording is there".
 */
export function relaySession(o: RelayOptions): Relay {
  const { client, node, taps } = o;
  let ended: SessionEnd | undefined;
  let resolveDone!: (end: SessionEnd) => void;
  const done = new Promise<SessionEnd>((resolve) => (resolveDone = resolve));

  /** Never rejects: a failure to finish is logged, and the session still ends for the client. */
  const finish = async (end: SessionEnd): Promise<void> => {
    if (ended) return;
    ended = end;
    try {
      await o.finish(end);
    } catch (err) {
      o.log.error('could not finish the session', { component: 'proxy', reason: end.reason, error: (err as Error).message });
    } finally {
      resolveDone(end);
    }
  };
  /** The node has exited: its status is what the client gets, whatever happens during the flush. */
  let nodeExited = false;

  const pump = (src: Readable, sink: Writable, type: 'output' | 'input') =>
    src.on('data', (data: Buffer) => {
      // Once the session is ending (stopped from outside), nothing more passes unrecorded.
      if (ended) return;
      const tapOk = taps.write({ type, data });
      const sinkOk = sink.write(data);
      if (tapOk && sinkOk) return;
      src.pause();
      let waits = (tapOk ? 0 : 1) + (sinkOk ? 0 : 1);
      const resume = () => {
        if (--waits === 0) src.resume();
      };
      if (!sinkOk) sink.once('drain', resume);
      if (!tapOk) taps.onceDrained(resume);
    });
  pump(node, client, 'output');
  pump(node.stderr, client.stderr, 'output');
  pump(client, node, 'input');
  client.on('end', () => node.end());

  node.on('close', () => {
    // Already ended from outside (stop) or by the client: the client has been told, or is gone.
    if (ended) return;
    nodeExited = true;
    const exit = o.exit();
    const exitStatus = exit?.code ?? null;
    const exitSignal = exit?.signal ?? null;
    taps.write({ type: 'exit', status: exitStatus, signal: exitSignal });
    const report = () => {
      void finish({ exitStatus, exitSignal, reason: 'exit' }).then(() => {
        if (client.destroyed || client.writableEnded) return;
        sendExit(client, exitStatus, exitSignal);
        client.end();
      });
    };
    // Writable runs write callbacks in order, so an empty write's callback means all is flushed
    // ('drain' fires only after a write returned false, so it cannot be waited for here).
    if (client.destroyed || client.writableEnded) return report();
    client.stderr.write(Buffer.alloc(0), () => client.write(Buffer.alloc(0), report));
  });
  const clientGone = () => {
    node.close();
    void finish({ exitStatus: null, exitSignal: null, reason: 'client disconnected' });
  };
  client.on('close', clientGone);
  // A client that went away while the node was being dialled has already closed: no event comes.
  if (client.destroyed) clientGone();

  return {
    done,
    stop(reason, line, status = 255) {
      // Once the node has exited, its exit status stands and the recording is being finished.
      if (ended || nodeExited) return;
      node.close();
      // As on a normal exit: the recording and the session index are complete before the client
      // learns that the session is over (a client that reads the index then finds the reason).
      void finish({ exitStatus: null, exitSignal: null, reason }).then(() => refuseChannel(client, line, status));
    },
  };
}
