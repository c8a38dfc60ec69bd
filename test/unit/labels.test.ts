import { describe, expect, it } from 'vitest';
import { ALL_NODES, formatLabelRule, formatLabels, labelsMatch, parseLabelRule, parseLabels } from '../../src/lib/labels.js';

describe('node labels and user rules', () => {
  it('parses node labels: one value per key; bad input is a one-line error with a hint', () => {
    expect(parseLabels('env=staging, team=db')).toEqual({ env: 'staging', team: 'db' });
    expect(parseLabels('')).toEqual({});
    expect(formatLabels({ team: 'db', env: 'staging' })).toBe('env=staging,team=db');
    expect(parseLabels('constructor=x,toString=y')).toEqual({ constructor: 'x', toString: 'y' });
    expect(labelsMatch(parseLabelRule('constructor=*'), {})).toBe(false);
    for (const bad of ['env', '=x', 'env=', 'env=a,env=b', 'e nv=x', 'env=a b']) expect(() => parseLabels(bad), bad).toThrow(/label|labels/);
  });

  it('rules: values of one key are alternatives, every key must match, * matches anything', () => {
    const rule = parseLabelRule('env=staging,env=dev,team=*');
    expect(rule).toEqual({ env: ['staging', 'dev'], team: ['*'] });
    expect(formatLabelRule(rule)).toBe('env=staging,env=dev,team=*');
    expect(labelsMatch(rule, { env: 'dev', team: 'db' })).toBe(true);
    expect(labelsMatch(rule, { env: 'dev' })).toBe(false);
    expect(labelsMatch(rule, { env: 'prod', team: 'db' })).toBe(false);
    expect(parseLabelRule('*')).toEqual(ALL_NODES);
    expect(labelsMatch(ALL_NODES, {})).toBe(true);
    expect(formatLabelRule(ALL_NODES)).toBe('*');
    expect(labelsMatch({}, { env: 'dev' })).toBe(false);
  });
});
