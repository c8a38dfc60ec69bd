import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { generateEd25519, fingerprint } from '../../src/lib/ca/keys.js';
import { signSshsig } from '../../src/lib/ca/sshsig.js';
import { AsciicastWriter } from '../../src/lib/recording/asciicast-writer.js';
import { binPath, parseBinMarker, Utf8Splitter } from '../../src/lib/recording/binary-sidecar.js';
import type { RecordingSigner } from '../../src/lib/recording/integrity.js';
import { playRaw, playText } from '../../src/lib/recording/player.js';
import { verifyRecording } from '../../src/lib/recording/verify.js';

const tmp = () => path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'tollgate-exact-')), 'x.cast');
const sha = (b: Buffer) => crypto.createHash('sha256').update(b).digest('hex');
const key = generateEd25519();
const signer: RecordingSigner = {
  publicBlob: key.publicBlob,
  identity: 'tollgate-recording@test',
  namespace: 'tollgate-recording',
  sign: (m) => crypto.sign(null, m, key.privateKey),
  signSshsig: (h, ns = 'tollgate-recording') => signSshsig(key.privateKey, key.publicBlob, ns, h, 'sha256'),
};

async function raw(file: string, stream: 'o' | 'i'): Promise<Buffer> {
  const out: Buffer[] = [];
  const bin = fs.existsSync(binPath(file)) ? fs.createReadStream(binPath(file)) : null;
  await playRaw(file, bin, stream, (b) => void out.push(Buffer.from(b)));
  return Buffer.concat(out);
}

/** Feeds `data` in reads of random sizes (1 byte to 40 KiB), as a relay would. */
function feed(data: Buffer, write: (b: Buffer) => void): void {
  for (let off = 0; off < data.length; ) {
    const n = Math.min(data.length - off, 1 + crypto.randomInt(40 * 1024));
    write(data.subarray(off, off + n));
    off += n;
  }
}

describe('byte-exact recordings', () => {
  it('Utf8Splitter: text stays text across split characters; invalid reads are binary, whole', () => {
    const s = new Utf8Splitter();
    const euro = Buffer.from('a€b'); // € is 3 bytes
    expect(s.write(euro.subarray(0, 2))).toBe('a');
    expect(s.write(euro.subarray(2, 3))).toBeUndefined();
    expect(s.write(euro.subarray(3))).toBe('€b');
    expect(s.write(Buffer.from([0x41, 0xff, 0x42]))).toEqual(Buffer.from([0x41, 0xff, 0x42]));
    expect(s.write(Buffer.from([0xe2, 0x82]))).toBeUndefined();
    expect(s.end()).toEqual(Buffer.from([0xe2, 0x82]));
  });

  it('a text event is byte for byte the UTF-8 of JSON.stringify of its decoded text (the writer encodes without decoding)', async () => {
    const f = tmp();
    const w = new AsciicastWriter(f, { width: 80, height: 24, timestamp: 0 }, { now: () => 0, startTime: 0 });
    // Every ASCII control but NUL (a read with NUL is binary), quotes, backslash, DEL, C1 controls,
    // U+2028/2029, two-, three- and four-byte characters, a character split across two reads.
    const controls = Buffer.from(Array.from({ length: 31 }, (_, i) => i + 1));
    const text = Buffer.concat([controls, Buffer.from('"quoted" \\back\\slash \x7f \u0080\u009f \u2028\u2029 é € 中文 𝄞 😀 </script>')]);
    const split = Buffer.from('ab€cd');
    for (const read of [text, split.subarray(0, 3), split.subarray(3)]) w.output(read);
    await w.close();
    const events = fs.readFileSync(f).subarray(fs.readFileSync(f).indexOf(10) + 1).toString('utf8').trimEnd().split('\n');
    const expected = [text.toString('utf8'), 'ab', '€cd'].map((t) => JSON.stringify([0, 'o', t]));
    expect(events).toEqual(expected);
  });

  it('every byte of output and input comes back from .cast + .bin, and the recording still verifies', async () => {
    const f = tmp();
    const id = crypto.randomUUID();
    const w = new AsciicastWriter(f, { width: 80, height: 24, timestamp: 0, session: id }, { recordInput: true, flushBytes: 16 * 1024, integrity: { session: id, signer, fingerprint: fingerprint(signer.publicBlob) } });
    const text = Buffer.from('héllo wörld € 𝄞 \r\n'.repeat(3000));
    const random = crypto.randomBytes(700 * 1024);
    const zeros = Buffer.concat([Buffer.from([0xff]), Buffer.alloc(300 * 1024)]);
    const out = Buffer.concat([text, random, text, zeros, text, Buffer.from([0xe2, 0x82])]);
    const inp = Buffer.concat([Buffer.from('echo hi\n'), crypto.randomBytes(5000), Buffer.from('ünïcode\n')]);
    // interleaved, with flushes in between
    let i = 0;
    feed(out, (b) => {
      w.output(b);
      if (i < inp.length) {
        w.input(inp.subarray(i, i + 997));
        i += 997;
      }
      if (crypto.randomInt(10) === 0) w.flush();
    });
    const totals = await w.close();
    fs.writeFileSync(`${f}.sig`, signer.signSshsig(totals.file.sha256!));
    expect(totals.out).toEqual({ bytes: out.length, sha256: sha(out) });
    expect(sha(await raw(f, 'o'))).toBe(sha(out));
    expect(sha(await raw(f, 'i'))).toBe(sha(inp));
    expect((await verifyRecording({ castFile: f, session: id, publicBlob: signer.publicBlob, namespace: 'tollgate-recording' })).verdict).toBe('verified');
    // the .cast is still plain asciicast v2 with text where the bytes were text
    let shown = '';
    await playText(f, (t) => void (shown += t));
    expect(shown).toContain('héllo wörld € 𝄞');
    // random bytes are stored as they are (deflate only where it pays), zeros deflated
    // random bytes stored as they are, the zeros deflated, text with its JSON escapes (\r\n)
    const stored = fs.statSync(f).size + fs.statSync(binPath(f)).size;
    expect(stored / (out.length + inp.length)).toBeLessThan(1.05);
  });

  it('random bytes cost at most 1.05 stored bytes per byte', async () => {
    const f = tmp();
    const w = new AsciicastWriter(f, { width: 80, height: 24, timestamp: 0 }, {});
    const data = crypto.randomBytes(8 << 20);
    feed(data, (b) => w.output(b));
    await w.close();
    const stored = fs.statSync(f).size + fs.statSync(binPath(f)).size;
    expect(stored / data.length).toBeLessThanOrEqual(1.05);
    expect(sha(await raw(f, 'o'))).toBe(sha(data));
  });

  it('a .bin that does not belong to the .cast is an error, not a replay', async () => {
    const f = tmp();
    const w = new AsciicastWriter(f, { width: 80, height: 24, timestamp: 0 }, {});
    w.output(crypto.randomBytes(10_000));
    await w.close();
    const marker = fs.readFileSync(f, 'utf8').split('\n')[1]!;
    expect(parseBinMarker((JSON.parse(marker) as [number, string, string])[2])).toMatchObject({ stream: 'o', bytes: 10_000, block: 0 });
    const bin = fs.readFileSync(binPath(f));
    bin[bin.length - 1] = bin[bin.length - 1]! ^ 1;
    fs.writeFileSync(binPath(f), bin);
    await expect(raw(f, 'o')).rejects.toThrow(/altered/);
  });
});
