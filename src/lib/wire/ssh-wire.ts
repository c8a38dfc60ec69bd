/*
 * SSH wire encoding (RFC 4251 §5): uint32 and uint64 big-endian; `string` = uint32 length || bytes;
 * name-lists and certificate fields are built from these. Used by ca/ (certificates), agent/
 * (ssh-agent messages) and the proxy's signature checks.
 */
import { badParameter } from '../errors.js';

/** Builds a wire buffer from parts without intermediate copies per field. */
export class WireWriter {
  private parts: Buffer[] = [];

  uint8(n: number): this {
    this.parts.push(Buffer.from([n]));
    return this;
  }
  uint32(n: number): this {
    const b = Buffer.allocUnsafe(4);
    b.writeUInt32BE(n >>> 0);
    this.parts.push(b);
    return this;
  }
  uint64(n: bigint): this {
    const b = Buffer.allocUnsafe(8);
    b.writeBigUInt64BE(n);
    this.parts.push(b);
    return this;
  }
  string(s: Buffer | string): this {
    const data = typeof s === 'string' ? Buffer.from(s, 'utf8') : s;
    this.uint32(data.length);
    this.parts.push(data);
    return this;
  }
  raw(b: Buffer): this {
    this.parts.push(b);
    return this;
  }
  toBuffer(): Buffer {
    return Buffer.concat(this.parts);
  }
}

/** Reads wire fields in order; every read is bounds-checked so malformed input fails cleanly. */
export class WireReader {
  private pos = 0;
  constructor(private readonly buf: Buffer, private readonly what = 'SSH data') {}

  private need(n: number): void {
    if (this.pos + n > this.buf.length) throw badParameter(`malformed ${this.what}: truncated`);
  }
  uint8(): number {
    this.need(1);
    return this.buf[this.pos++]!;
  }
  uint32(): number {
    this.need(4);
    const v = this.buf.readUInt32BE(this.pos);
    this.pos += 4;
    return v;
  }
  uint64(): bigint {
    this.need(8);
    const v = this.buf.readBigUInt64BE(this.pos);
    this.pos += 8;
    return v;
  }
  string(): Buffer {
    const len = this.uint32();
    this.need(len);
    const v = this.buf.subarray(this.pos, this.pos + len);
    this.pos += len;
    return v;
  }
  text(): string {
    return this.string().toString('utf8');
  }
  get offset(): number {
    return this.pos;
  }
  get remaining(): number {
    return this.buf.length - this.pos;
  }
  atEnd(): boolean {
    return this.pos === this.buf.length;
  }
}
