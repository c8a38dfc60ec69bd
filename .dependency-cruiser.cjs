/**
 * The architecture's dependency rules (../shared/DESIGN.md "Parts and which way they depend"),
 * checked by `npm run check:deps` (part of `npm test`, so CI fails on a violation).
 */
module.exports = {
  forbidden: [
    {
      name: 'no-folder-cycle',
      severity: 'error',
      comment: 'Folders under src/lib depend one way: a cycle between two folders means one of them has two jobs.',
      scope: 'folder',
      from: { path: '^src/lib/[^/]+' },
      to: { circular: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    exclude: { path: '^(dist|roots|node_modules)/' },
  },
};
