import { Duplex, PassThrough } from 'node:stream';
import type { ClientChannel, NodeChannel } from '../../src/lib/proxy/session/index.js';

/**
 * In-process stand-ins for the two SSH channels a relay joins, for unit tests of one part (the
 * integration tests use real ssh2 and sshd): what a side receives is collected, what it sends is
 * pushed by the test.
 */
export class FakeClient extends Duplex implements ClientChannel {
  readonly stderr = new PassThrough();
  readonly received: Buffer[] = [];
  readonly stderrText: string[] = [];
  /** The order in which things reached the client: 'data', 'exit:N', 'end'. */
  readonly log: string[] = [];
  exitStatus: number | string | undefined;

  constructor() {
    super({ allowHalfOpen: true });
    this.stderr.on('data', (d: Buffer) => this.stderrText.push(d.toString()));
    this.on('finish', () => this.log.push('end'));
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: () => void): void {
    if (chunk.length > 0) {
      this.received.push(chunk);
      this.log.push('data');
    }
    cb();
  }

  override _read(): void {}

  /** The user types or pipes something. */
  send(data: string | Buffer): void {
    this.push(data);
  }

  exit(statusOrSignal: number | string): void {
    this.exitStatus = statusOrSignal;
    this.log.push(`exit:${statusOrSignal}`);
  }

  text(): string {
    return Buffer.concat(this.received).toString();
  }
}

export class FakeNode extends Duplex implements NodeChannel {
  readonly stderr = new PassThrough();
  readonly received: Buffer[] = [];
  closedByRelay = false;
  inputEnded = false;
  readonly windows: Array<[number, number]> = [];
  readonly signals: string[] = [];

  constructor() {
    super({ allowHalfOpen: true });
    this.on('finish', () => (this.inputEnded = true));
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: () => void): void {
    this.received.push(chunk);
    cb();
  }

  override _read(): void {}

  /** The node prints something. */
  print(data: string | Buffer): void {
    this.push(data);
  }

  setWindow(rows: number, cols: number): void {
    this.windows.push([cols, rows]);
  }

  signal(name: string): void {
    this.signals.push(name);
  }

  close(): void {
    if (this.closedByRelay) return;
    this.closedByRelay = true;
    this.push(null);
    this.stderr.end();
    setImmediate(() => this.emit('close'));
  }

  text(): string {
    return Buffer.concat(this.received).toString();
  }
}
