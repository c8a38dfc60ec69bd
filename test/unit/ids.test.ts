import crypto from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { isUuid } from '../../src/lib/ids.js';

describe('isUuid: the one session id check', () => {
  it('accepts what the daemon mints and nothing that could name another file or path', () => {
    for (let i = 0; i < 20; i++) expect(isUuid(crypto.randomUUID())).toBe(true);
    for (const bad of ['', '../../etc/passwd', '------------------------------------', 'ABCDEF01-2345-6789-abcd-ef0123456789', `${crypto.randomUUID()}\n`, `${crypto.randomUUID()}.cast`]) {
      expect(isUuid(bad), JSON.stringify(bad)).toBe(false);
    }
  });
});
