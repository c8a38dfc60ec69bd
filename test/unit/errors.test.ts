import { describe, expect, it } from 'vitest';
import pkg from '../../package.json' with { type: 'json' };
import { exitCodeFor, httpStatusFor, kindForHttpStatus, TollgateError } from '../../src/lib/errors.js';
import { VERSION } from '../../src/lib/version.js';

describe('errors', () => {
  it('map kinds to HTTP statuses and back', () => {
    for (const kind of ['bad-parameter', 'not-found', 'access-denied', 'already-exists', 'unavailable', 'internal'] as const) {
      expect(kindForHttpStatus(httpStatusFor(kind))).toBe(kind);
    }
  });
  it('exit codes: 3 when unreachable, else 1', () => {
    expect(exitCodeFor('unavailable')).toBe(3);
    expect(exitCodeFor('bad-parameter')).toBe(1);
  });
  it('keeps the cause', () => {
    const cause = new Error('low level');
    expect(new TollgateError('internal', 'x', { cause }).cause).toBe(cause);
  });
  it('VERSION matches package.json', () => expect(VERSION).toBe(pkg.version));
});
