import { expect } from 'vitest';
import { TollgateError } from '../../src/lib/errors.js';

/** The TollgateError `fn` throws (fails the test when it throws nothing, or something else). */
export function errorOf(fn: () => unknown): TollgateError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(TollgateError);
    return e as TollgateError;
  }
  throw new Error('expected an error');
}
