import fs from 'node:fs';
import path from 'node:path';

/*
 * sshd_config text editing, with no process and no writes: where tollgate's lines go and what
 * the file looks like afterwards. sshd_config(5): one `Keyword arguments` per line, keywords
 * case-insensitive, `=` allowed between keyword and arguments, `#` starts a comment line; every
 * line after a `Match` belongs to that Match block until the next one; for most keywords the
 * FIRST value seen wins (HostKey and HostCertificate add up).
 */

/** The drop-in's name: sorts before the usual `50-cloud-init.conf`-style files, so its values come first. */
export const DROP_IN_NAME = '10-tollgate.conf';
/** Where sshd resolves a relative `Include` (its compiled-in SSHDIR), not the config file's directory. */
export const SSHD_DIR = '/etc/ssh';
export const BLOCK_BEGIN = '# BEGIN tollgate';
export const BLOCK_END = '# END tollgate';
const HEADER = '# Written by `teleport join openssh`; running it again rewrites these lines.';

interface Directive {
  index: number;
  keyword: string;
  args: string[];
}

/** Splits arguments the way sshd does: whitespace-separated, double quotes group. */
function splitArgs(text: string): string[] {
  const out: string[] = [];
  for (const m of text.matchAll(/"([^"]*)"|(\S+)/g)) out.push(m[1] ?? m[2]!);
  return out;
}

function parseLine(line: string, index: number): Directive | undefined {
  const m = /^\s*([A-Za-z][A-Za-z0-9]*)(?:\s*=\s*|\s+)(.*)$/.exec(line);
  if (!m) return undefined;
  return { index, keyword: m[1]!.toLowerCase(), args: splitArgs(m[2]!) };
}

function directives(lines: readonly string[]): Directive[] {
  return lines.flatMap((l, i) => parseLine(l, i) ?? []);
}

/** Quotes a path for sshd_config when it holds whitespace. */
export function configArg(p: string): string {
  return /\s/.test(p) ? `"${p}"` : p;
}

/** The directives tollgate adds, in order: preserved host keys come before ours (see join.ts). */
export function snippetLines(files: { caFile: string; hostKey: string; hostCert: string }, preservedHostKeys: readonly string[]): string[] {
  return [
    `TrustedUserCAKeys ${configArg(files.caFile)}`,
    ...preservedHostKeys.map((k) => `HostKey ${configArg(k)}`),
    `HostKey ${configArg(files.hostKey)}`,
    `HostCertificate ${configArg(files.hostCert)}`,
  ];
}

/** The whole drop-in file for `lines`. */
export function renderDropIn(lines: readonly string[]): string {
  return `${HEADER}\n${lines.join('\n')}\n`;
}

function globToRegExp(glob: string): RegExp {
  const body = glob.replace(/[.+^${}()|\\]/g, '\\$&').replace(/\*/g, '[^/]*').replace(/\?/g, '[^/]');
  return new RegExp(`^${body}$`);
}

/**
 * The drop-in file to write when the global part of the config (before the first Match) has an
 * `Include DIR/GLOB` whose GLOB matches our drop-in's name and whose DIR exists; else undefined
 * (the lines then go into the main config as a marked block).
 */
export function dropInPath(configText: string, sshDir: string = SSHD_DIR): string | undefined {
  for (const d of globalDirectives(configText.split('\n'))) {
    if (d.keyword !== 'include') continue;
    for (const arg of d.args) {
      if (arg.startsWith('~')) continue;
      const abs = path.isAbsolute(arg) ? arg : path.join(sshDir, arg);
      const dir = path.dirname(abs);
      if (/[*?[]/.test(dir) || !globToRegExp(path.basename(abs)).test(DROP_IN_NAME)) continue;
      if (fs.statSync(dir, { throwIfNoEntry: false })?.isDirectory()) return path.join(dir, DROP_IN_NAME);
    }
  }
  return undefined;
}

function globalDirectives(lines: readonly string[]): Directive[] {
  const all = directives(lines);
  const match = all.findIndex((d) => d.keyword === 'match');
  return match < 0 ? all : all.slice(0, match);
}

/** The line range [begin, end] of tollgate's marked block, if the text has one. */
function findBlock(lines: readonly string[]): { begin: number; end: number } | undefined {
  const begin = lines.findIndex((l) => l.trim().startsWith(BLOCK_BEGIN));
  if (begin < 0) return undefined;
  const end = lines.findIndex((l, i) => i > begin && l.trim() === BLOCK_END);
  return end < 0 ? undefined : { begin, end };
}

/** The directive lines inside tollgate's block (or a whole drop-in), comments dropped. */
export function managedLines(text: string, whole: boolean): string[] | undefined {
  const lines = text.split('\n');
  let body = lines;
  if (!whole) {
    const b = findBlock(lines);
    if (!b) return undefined;
    body = lines.slice(b.begin + 1, b.end);
  }
  return body.map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('#'));
}

/** The text without tollgate's block (unchanged when it has none). */
export function removeBlock(text: string): string {
  const lines = text.split('\n');
  const b = findBlock(lines);
  if (!b) return text;
  // Drop the blank separator this module put after the block, if it is still there.
  const extra = lines[b.end + 1] === '' && b.end + 2 < lines.length ? 1 : 0;
  lines.splice(b.begin, b.end - b.begin + 1 + extra);
  return lines.join('\n');
}

/**
 * The text with tollgate's block holding `body`: replaced in place when it already sits in the
 * global part, else (re)inserted just before the first Match (lines after a Match belong to
 * it), or appended when there is none. Never two blocks.
 */
export function upsertBlock(text: string, body: readonly string[]): string {
  const block = [`${BLOCK_BEGIN}`, HEADER, ...body, BLOCK_END];
  const lines = text.split('\n');
  const existing = findBlock(lines);
  const firstMatch = directives(lines).find((d) => d.keyword === 'match')?.index ?? -1;
  if (existing && (firstMatch < 0 || existing.end < firstMatch)) {
    lines.splice(existing.begin, existing.end - existing.begin + 1, ...block);
    return lines.join('\n');
  }
  const without = removeBlock(text).split('\n');
  const at = directives(without).find((d) => d.keyword === 'match')?.index;
  if (at === undefined) {
    // Append: keep a final newline, and one blank line between the admin's lines and ours.
    while (without.length > 0 && without[without.length - 1] === '') without.pop();
    const sep = without.length > 0 ? [''] : [];
    return [...without, ...sep, ...block, ''].join('\n');
  }
  without.splice(at, 0, ...block, '');
  return without.join('\n');
}

/** Where a TrustedUserCAKeys other than `ours` is set: `FILE line N: TrustedUserCAKeys X`, for error messages. */
export function otherTrustedCaLines(files: readonly string[], ours: string): string[] {
  const found: string[] = [];
  for (const file of files) {
    let text: string;
    try {
      text = fs.readFileSync(file, 'utf8');
    } catch {
      continue;
    }
    for (const d of directives(text.split('\n'))) {
      if (d.keyword === 'trustedusercakeys' && d.args[0] !== ours) found.push(`${file} line ${d.index + 1}: TrustedUserCAKeys ${d.args.join(' ')}`);
    }
  }
  return found;
}

/** The `.conf` files in a drop-in directory, in sshd's (sorted) order. */
export function dropInFiles(dir: string): string[] {
  try {
    return fs
      .readdirSync(dir)
      .filter((f) => f.endsWith('.conf'))
      .sort()
      .map((f) => path.join(dir, f));
  } catch {
    return [];
  }
}
