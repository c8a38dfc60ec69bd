#!/usr/bin/env node
// Builds dist/ with tsc, then one oclif root per binary (roots/<bin>/package.json + manifest) so
// each of tsh, tctl and teleport lists only its own commands and starts without scanning dist/.
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Plugin } from '@oclif/core';

const top = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const pkg = JSON.parse(fs.readFileSync(path.join(top, 'package.json'), 'utf8'));
const run = (cmd, args) => execFileSync(cmd, args, { cwd: top, stdio: 'inherit' });

fs.rmSync(path.join(top, 'dist'), { recursive: true, force: true });
run(process.execPath, [path.join(top, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.json']);

const summaries = {
  tsh: 'tollgate client: log in, open recorded SSH sessions, replay recordings.',
  tctl: 'tollgate admin tool: users, certificate authorities, audit events.',
  teleport: 'tollgate daemon: auth service and SSH recording proxy.',
};
const topics = {
  tsh: { recordings: { description: 'List and export session recordings.' } },
  tctl: {
    users: { description: 'Manage users: add, list, remove, reset.' },
    auth: { description: 'Certificate authorities: export CA keys, sign certificates.' },
    events: { description: 'Audit events.' },
    sessions: { description: 'Recorded sessions.' },
  },
  teleport: { install: { description: 'Install the daemon as a system service (systemd unit).' } },
};
for (const bin of Object.keys(summaries)) {
  const dir = path.join(top, 'roots', bin);
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(
    path.join(dir, 'package.json'),
    `${JSON.stringify(
      {
        name: bin,
        version: pkg.version,
        description: summaries[bin],
        private: true,
        type: 'module',
        oclif: {
          bin,
          dirname: 'tollgate',
          topicSeparator: ' ',
          commands: { strategy: 'pattern', target: `../../dist/commands/${bin}` },
          helpOptions: { flagSortOrder: 'none' },
          topics: topics[bin],
        },
      },
      null,
      2,
    )}\n`,
  );
  // What `oclif manifest` does, without its files-array check and update probe.
  const plugin = new Plugin({ root: dir, type: 'core', ignoreManifest: true, errorOnManifestCreate: true, isRoot: true });
  await plugin.load();
  fs.writeFileSync(path.join(dir, 'oclif.manifest.json'), `${JSON.stringify(plugin.manifest, null, 2)}\n`);
  console.log(`${bin}: ${Object.keys(plugin.manifest.commands).length} commands`);
}

// The fast path's spec of tsh's hot commands (src/cli/fast-path.ts), taken from the same command
// classes as the manifest: `tsh ssh` and `tsh play` then start without loading oclif.
const { FAST_COMMANDS, FAST_SPEC_FILE } = await import('../dist/cli/fast-path.js');
const { fastSpecOf } = await import('../dist/cli/fast-spec.js');
for (const [bin, ids] of Object.entries(FAST_COMMANDS)) {
  const specs = {};
  for (const id of ids) {
    const spec = fastSpecOf((await import(`../dist/commands/${bin}/${id}.js`)).default);
    if (spec) specs[id] = spec;
    else console.warn(`${bin} ${id}: runs through oclif only (a flag or argument the fast parser does not implement)`);
  }
  fs.writeFileSync(path.join(top, 'roots', bin, FAST_SPEC_FILE), `${JSON.stringify(specs, null, 2)}\n`);
}

// The root help of each binary, rendered once by oclif itself (80 columns, no colour), so
// `tsh --help` prints it without loading oclif (src/cli/main.ts). Rendered after every root has
// its manifest; a failure here only means oclif renders the help at run time.
for (const bin of Object.keys(summaries)) {
  const file = path.join(top, 'roots', bin, 'help.txt');
  fs.rmSync(file, { force: true });
  const r = spawnSync(process.execPath, [path.join(top, 'bin', bin), '--help'], { cwd: top, encoding: 'utf8', env: { ...process.env, COLUMNS: '80', NO_COLOR: '1', FORCE_COLOR: '0' } });
  if (r.status === 0 && r.stdout.includes('USAGE')) fs.writeFileSync(file, r.stdout);
  else console.warn(`${bin}: could not pre-render --help (${r.status}): ${r.stderr.split('\n')[0]}`);
}
