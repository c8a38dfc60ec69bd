import { describe, expect, it } from 'vitest';
import { formatDuration, parseDuration } from '../../src/lib/duration.js';

describe('durations', () => {
  it.each([
    ['1h', 3_600_000],
    ['90s', 90_000],
    ['1h30m', 5_400_000],
    ['1.5h', 5_400_000],
    ['500ms', 500],
    ['2d', 172_800_000],
    ['0', 0],
  ])('%s', (text, ms) => expect(parseDuration(text)).toBe(ms));

  it.each(['', '12', 'h', '1x', '1h 30m', '-1h'])('refuses %j', (text) => expect(() => parseDuration(text)).toThrow(/invalid duration/));

  it('formats as Go does', () => {
    expect(formatDuration(3_600_000)).toBe('1h');
    expect(formatDuration(5_400_000)).toBe('1h30m');
    expect(formatDuration(1000)).toBe('1s');
    expect(formatDuration(30 * 3_600_000)).toBe('30h');
  });
});
