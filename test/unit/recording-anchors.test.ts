import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { anchorFromFields, checkAnchors, type RecordingAnchor } from '../../src/lib/recording/anchors.js';

/** The anchor check hashes the .cast itself at each anchored offset; it needs no sidecar and no key. */
describe('checkAnchors', () => {
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'tollgate-anchor-')), 'x.cast');
  const text = Buffer.from('{"version":2}\n[0.1,"o","a"]\n[0.2,"o","b"]\n');
  fs.writeFileSync(file, text);
  const at = (cp: RecordingAnchor['cp'], bytes: number, data = text): RecordingAnchor => ({ cp, bytes, chain: crypto.createHash('sha256').update(data.subarray(0, bytes)).digest('hex') });

  it('agrees with anchors of the file; says how far, and what is not anchored', async () => {
    const r = await checkAnchors(file, [at(2, 28), at(1, 14), at('complete', text.length)]);
    expect(r).toMatchObject({ verdict: 'agrees', anchors: 3, anchored_bytes: text.length, mismatch: null });
    const part = await checkAnchors(file, [at(1, 14)]);
    expect(part.summary).toMatch(/up to byte 14 \(28 later bytes are not anchored\)/);
  });

  it('an edited byte, a cut file, or no anchors at all', async () => {
    const edited = Buffer.from(text);
    edited[20] = 0x5a;
    const r = await checkAnchors(file, [at(1, 14, edited), at(2, 28, edited)]);
    expect(r).toMatchObject({ verdict: 'disagrees', anchored_bytes: 14, mismatch: { cp: 2, bytes: 28 } });
    const longer = Buffer.concat([text, Buffer.from('[0.3,"o","c"]\n')]);
    expect(await checkAnchors(file, [at('complete', longer.length, longer)])).toMatchObject({ verdict: 'disagrees', mismatch: { cp: 'complete' } });
    expect((await checkAnchors(file, [])).verdict).toBe('none');
  });

  it('reads only well-formed anchor fields', () => {
    expect(anchorFromFields({ cp: 3, bytes: 10, chain: 'a'.repeat(64) })).toEqual({ cp: 3, bytes: 10, chain: 'a'.repeat(64) });
    expect(anchorFromFields({ cp: 'x', bytes: 10, chain: 'a'.repeat(64) })).toBeUndefined();
    expect(anchorFromFields({ cp: 1, bytes: -1, chain: 'a'.repeat(64) })).toBeUndefined();
    expect(anchorFromFields({ cp: 1, bytes: 1, chain: 'zz' })).toBeUndefined();
  });
});
