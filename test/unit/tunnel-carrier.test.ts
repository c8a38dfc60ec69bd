import { Duplex } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { carryTunnel, type TunnelChannel } from '../../src/lib/proxy/tunnel-carrier.js';

/** A channel end: what is written to it is collected; push() feeds what it "receives". */
function channel(): TunnelChannel & { got: Buffer[]; ended: boolean } {
  const d = new Duplex({
    read() {},
    write(chunk: Buffer, _enc, cb) {
      d.got.push(chunk);
      cb();
    },
    final(cb) {
      d.ended = true;
      cb();
    },
  }) as Duplex & TunnelChannel & { got: Buffer[]; ended: boolean };
  d.got = [];
  d.ended = false;
  d.close = () => {
    d.destroy();
  };
  return d;
}

describe('carryTunnel', () => {
  it('pipes both ways, keeps half-close, counts bytes, and closes both channels at the end', async () => {
    const client = channel();
    const node = channel();
    client.push(Buffer.from('GET / HTTP/1.0\r\n\r\n'));
    const carried = carryTunnel(client, node);
    client.push(null);
    // The client's EOF ends only that direction: the node still answers.
    await new Promise((r) => setTimeout(r, 10));
    expect(node.ended).toBe(true);
    expect(client.ended).toBe(false);
    node.push(Buffer.from('HTTP/1.0 200 OK\r\n\r\nhi'));
    node.push(null);
    expect(await carried).toEqual({ bytesIn: 18, bytesOut: 21, error: undefined });
    expect(Buffer.concat(node.got).toString()).toBe('GET / HTTP/1.0\r\n\r\n');
    expect(Buffer.concat(client.got).toString()).toBe('HTTP/1.0 200 OK\r\n\r\nhi');
    expect(client.ended).toBe(true);
    expect([client.destroyed, node.destroyed]).toEqual([true, true]);
  });

  it('an error on one end ends both, with the reason', async () => {
    const client = channel();
    const node = channel();
    const carried = carryTunnel(client, node);
    client.push(Buffer.from('abc'));
    await new Promise((r) => setTimeout(r, 10));
    node.destroy(new Error('node reset'));
    expect(await carried).toMatchObject({ bytesIn: 3, error: 'node reset' });
    expect(client.destroyed).toBe(true);
  });
});
