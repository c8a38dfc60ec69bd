import { describe, expect, it } from 'vitest';
import { formatBytes, renderListing } from '../../src/cli/render.js';

describe('renderListing: every listing\'s --format=text|json', () => {
  const rows = [
    { name: 'joe', n: 1 },
    { name: 'alexandra', n: 22 },
  ];
  const columns = [
    { header: 'User', cell: (r: (typeof rows)[number]) => r.name },
    { header: 'N', cell: (r: (typeof rows)[number]) => String(r.n) },
  ];

  it('text: a header, a rule and padded columns', () => {
    expect(renderListing('text', rows, columns)).toBe(['User       N', '---------  --', 'joe        1', 'alexandra  22'].join('\n'));
  });

  it('json: an array of objects with the id first', () => {
    expect(JSON.parse(renderListing('json', rows, columns, (r) => ({ id: r.name, ...r })))).toEqual([
      { id: 'joe', name: 'joe', n: 1 },
      { id: 'alexandra', name: 'alexandra', n: 22 },
    ]);
    expect(Object.keys(JSON.parse(renderListing('json', rows, columns, (r) => ({ id: r.name, ...r })))[0])[0]).toBe('id');
  });

  it('formats sizes as people read them', () => {
    expect([0, 1023, 1024, 1536, 5 << 20].map(formatBytes)).toEqual(['0 B', '1023 B', '1.0 KiB', '1.5 KiB', '5.0 MiB']);
  });
});
