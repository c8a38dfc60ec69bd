import { describe, expect, it } from 'vitest';
import { settlesWithin } from '../../src/lib/within.js';

describe('settlesWithin', () => {
  it('true when the promise settles in time, false when the time runs out, and a rejection is thrown', async () => {
    expect(await settlesWithin(Promise.resolve(1), 1_000)).toBe(true);
    expect(await settlesWithin(new Promise(() => {}), 10)).toBe(false);
    await expect(settlesWithin(Promise.reject(new Error('broken')), 1_000)).rejects.toThrow('broken');
  });
});
