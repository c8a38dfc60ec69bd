import { describe, expect, it } from 'vitest';
import { TargetPolicy } from '../../src/lib/proxy/targets.js';

describe('allowed_targets', () => {
  it('allows anything when empty', () => expect(new TargetPolicy([]).allows('10.1.2.3', 22)).toBe(true));
  it('matches CIDR, CIDR:PORT and *:PORT', () => {
    const p = new TargetPolicy(['10.0.0.0/8', '192.168.1.0/24:22', '*:2222', '[fd00::]:22']);
    expect(p.allows('10.9.9.9', 443)).toBe(true);
    expect(p.allows('192.168.1.5', 22)).toBe(true);
    expect(p.allows('192.168.1.5', 23)).toBe(false);
    expect(p.allows('8.8.8.8', 2222)).toBe(true);
    expect(p.allows('8.8.8.8', 22)).toBe(false);
    expect(p.allows('fd00::', 22)).toBe(true);
  });
  it('resolves names before checking', async () => {
    await expect(new TargetPolicy(['127.0.0.0/8']).resolve('localhost', 22)).resolves.toMatch(/^127\./);
    await expect(new TargetPolicy(['10.0.0.0/8']).resolve('127.0.0.1', 22)).rejects.toMatchObject({ kind: 'access-denied' });
  });
});
