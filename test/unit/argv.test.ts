import { describe, expect, it } from 'vitest';
import { moveLeadingFlags } from '../../src/cli/argv.js';

const ids = new Set(['users add', 'users ls', 'auth export', 'status', 'ssh']);
const values = new Set(['-c', '--config', '--proxy', '--data-dir']);

describe('moveLeadingFlags', () => {
  it('moves global flags after a multi-word command id', () => {
    expect(moveLeadingFlags(['-c', 'f.yaml', 'users', 'ls'], values, ids)).toEqual(['users', 'ls', '-c', 'f.yaml']);
    expect(moveLeadingFlags(['--config=f.yaml', 'users', 'add', 'joe', 'joe,root'], values, ids)).toEqual(['users', 'add', '--config=f.yaml', 'joe', 'joe,root']);
  });
  it('handles tsh style: tsh --proxy=HOST ssh node', () => {
    expect(moveLeadingFlags(['--proxy', 'p:3080', '--insecure', 'ssh', 'root@node', 'ls', '-la'], values, ids)).toEqual(['ssh', '--proxy', 'p:3080', '--insecure', 'root@node', 'ls', '-la']);
  });
  it('leaves argv alone without leading flags or without a command', () => {
    expect(moveLeadingFlags(['users', 'ls', '-c', 'x'], values, ids)).toEqual(['users', 'ls', '-c', 'x']);
    expect(moveLeadingFlags(['--help'], values, ids)).toEqual(['--help']);
    expect(moveLeadingFlags(['--version'], values, ids)).toEqual(['--version']);
  });
});
