import { pipeline, type Duplex } from 'node:stream';

/** What one tunnel carried: bytes from the client toward the node, and back. */
export interface Carried {
  bytesIn: number;
  bytesOut: number;
  /** Why it ended when not both ends' EOF (a channel reset, the node lost). */
  error: string | undefined;
}

/** An SSH channel as the carrier uses it (an ssh2 ServerChannel or ClientChannel). */
export interface TunnelChannel extends Duplex {
  close(): void;
}

/**
 * Pipes a tunnel both ways with stream.pipeline, so each direction's SSH window is its
 * backpressure and an error on either end ends both, and counts the bytes. Half-close is kept
 * (one side's EOF ends only that direction, as sshd does for a TCP forward); the channels are
 * closed once both directions are over. Never rejects.
 */
export function carryTunnel(client: TunnelChannel, node: TunnelChannel): Promise<Carried> {
  const carried: Carried = { bytesIn: 0, bytesOut: 0, error: undefined };
  let pending = 2;
  return new Promise<Carried>((resolve) => {
    const done = (err: NodeJS.ErrnoException | null | undefined) => {
      if (err && !carried.error && err.code !== 'ERR_STREAM_PREMATURE_CLOSE') carried.error = err.message;
      if (--pending > 0) return;
      for (const ch of [client, node]) if (!ch.destroyed) ch.close();
      resolve(carried);
    };
    pipeline(client, node, done);
    pipeline(node, client, done);
    // Counted after pipeline() has attached its own readers: no chunk is emitted before then.
    client.on('data', (d: Buffer) => (carried.bytesIn += d.length));
    node.on('data', (d: Buffer) => (carried.bytesOut += d.length));
  });
}
