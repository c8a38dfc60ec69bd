/**
 * tsh's hot commands (`tsh ssh`, `tsh play`) without oclif at run time: loading @oclif/core and its
 * config costs about 70 ms of a `tsh ssh NODE true` (see README, Performance). The spec of each
 * command is written at build time from the oclif command class itself (src/cli/fast-spec.ts,
 * scripts/build.mjs), so the flags cannot drift from the class. The parser below accepts only the
 * plain forms whose result is certain and returns undefined for anything else (an unknown or
 * repeated flag, a bad value, a missing argument, `--`, `-pVALUE`): the caller then runs the
 * command through oclif, which parses it or prints its usual error. A unit test checks that every
 * command line accepted here parses to the same flags and arguments under oclif.
 */

/** One flag as the fast parser understands it; `other` (a custom parse function) is never parsed here. */
export interface FastFlag {
  kind: 'boolean' | 'string' | 'integer' | 'other';
  char?: string;
  default?: string | number | boolean;
  options?: string[];
  min?: number;
  max?: number;
}

export interface FastCommandSpec {
  strict: boolean;
  /** Positional arguments in order (none has a default or options). */
  args: { name: string; required: boolean }[];
  flags: Record<string, FastFlag>;
}

/** `roots/tsh/fast-path.json`: the spec of each command the fast path runs, by command id. */
export type FastSpecFile = Record<string, FastCommandSpec>;

export interface FastParsed {
  flags: Record<string, string | number | boolean>;
  args: Record<string, string>;
}

/** The value of an option flag, or undefined when oclif might read it differently or reject it. */
function optionValue(flag: FastFlag, value: string): string | number | undefined {
  if (value === '' || value.startsWith('-') || value.includes('=')) return undefined;
  if (flag.options && !flag.options.includes(value)) return undefined;
  if (flag.kind === 'string') return value;
  if (flag.kind !== 'integer' || !/^\d{1,9}$/.test(value)) return undefined;
  const n = Number.parseInt(value, 10);
  if ((flag.min !== undefined && n < flag.min) || (flag.max !== undefined && n > flag.max)) return undefined;
  return n;
}

/** Parses `argv` as oclif would for `spec`, or returns undefined when it cannot be sure (see above). */
export function parseFast(spec: FastCommandSpec, argv: readonly string[]): FastParsed | undefined {
  const byChar = new Map<string, string>();
  for (const [name, f] of Object.entries(spec.flags)) if (f.char) byChar.set(f.char, name);
  const flags: FastParsed['flags'] = {};
  const positional: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (!a.startsWith('-') || a === '-') {
      if (a === '-' || a === '') return undefined;
      positional.push(a);
      continue;
    }
    let name: string | undefined;
    let inline: string | undefined;
    if (a.startsWith('--')) {
      const eq = a.indexOf('=');
      name = a.slice(2, eq < 0 ? undefined : eq);
      if (eq >= 0) inline = a.slice(eq + 1);
    } else if (a.length === 2) name = byChar.get(a[1]!);
    const flag = name === undefined ? undefined : spec.flags[name];
    if (name === undefined || !flag || flag.kind === 'other' || name in flags) return undefined;
    if (flag.kind === 'boolean') {
      if (inline !== undefined) return undefined;
      flags[name] = true;
      continue;
    }
    const raw = inline ?? argv[++i];
    if (raw === undefined) return undefined;
    const value = optionValue(flag, raw);
    if (value === undefined) return undefined;
    flags[name] = value;
  }
  if (spec.strict && positional.length > spec.args.length) return undefined;
  const args: FastParsed['args'] = {};
  for (const [i, arg] of spec.args.entries()) {
    const value = positional[i];
    if (value === undefined) {
      if (arg.required) return undefined;
      continue;
    }
    args[arg.name] = value;
  }
  for (const [name, f] of Object.entries(spec.flags)) if (!(name in flags) && f.default !== undefined) flags[name] = f.default;
  return { flags, args };
}
