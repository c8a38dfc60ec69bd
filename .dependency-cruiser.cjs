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
    {
      name: 'lib-not-cli',
      severity: 'error',
      comment: 'src/lib is the library: it knows nothing of commands, the CLI or oclif (those sit on top of it).',
      from: { path: '^src/lib/' },
      to: { path: ['^src/(commands|cli)/', '@oclif/'] },
    },
    {
      name: 'no-deep-import-between-folders',
      severity: 'error',
      comment:
        'A folder is entered through its index.ts, which names what it offers. Dynamic imports are exempt: they load a heavy optional part (the PostgreSQL store) only when it is used.',
      from: { path: '^src/lib/([^/]+)/' },
      to: { path: '^src/lib/[^/]+/', pathNot: ['^src/lib/$1/', '^src/lib/[^/]+/index\\.ts$'], dependencyTypesNot: ['dynamic-import'] },
    },
    {
      name: 'no-deep-import-from-outside-lib',
      severity: 'error',
      comment: 'Commands, the CLI and the composition root use lib folders through their index.ts too.',
      from: { path: ['^src/(commands|cli)/', '^src/lib/[^/]+\\.ts$'] },
      to: { path: '^src/lib/[^/]+/', pathNot: '^src/lib/[^/]+/index\\.ts$', dependencyTypesNot: ['dynamic-import'] },
    },
    {
      name: 'no-module-cycle',
      severity: 'error',
      from: { path: '^src/' },
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
