import { Args, Flags, type Command } from '@oclif/core';
import type { FastCommandSpec, FastFlag } from './fast-argv.js';

type FlagDef = { type: string; char?: string; default?: unknown; options?: readonly string[]; min?: number; max?: number; parse?: unknown; multiple?: boolean; allowNo?: boolean; env?: string } & Record<string, unknown>;
type ArgDef = { name: string; required?: boolean; default?: unknown; options?: unknown; parse?: unknown };

// oclif makes a new parse function per flag; the same source text is the same parser.
const same = (a: unknown, b: unknown) => a === b || String(a) === String(b);
const BOOLEAN_PARSE = Flags.boolean().parse;
const STRING_PARSE = Flags.string().parse;
const INTEGER_PARSE = Flags.integer().parse;
const ARG_STRING_PARSE = Args.string().parse;
/** Flag properties the fast parser does not implement: a flag using one is parsed by oclif only. */
const UNSUPPORTED = ['multiple', 'allowNo', 'env', 'exclusive', 'dependsOn', 'relationships', 'exactlyOne', 'combinable', 'required', 'deprecated', 'aliases', 'charAliases', 'delimiter'];
/** Properties with an effect when the flag is not given: a command with one always runs through oclif. */
const ACTS_WHEN_ABSENT = ['env', 'required', 'relationships', 'exactlyOne', 'exclusive', 'dependsOn'];

function fastFlag(f: FlagDef): FastFlag {
  const defaultOk = f.default === undefined || ['string', 'number', 'boolean'].includes(typeof f.default);
  const supported = defaultOk && UNSUPPORTED.every((k) => !f[k]);
  const kind: FastFlag['kind'] = !supported
    ? 'other'
    : f.type === 'boolean'
      ? same(f.parse, BOOLEAN_PARSE)
        ? 'boolean'
        : 'other'
      : same(f.parse, STRING_PARSE)
        ? 'string'
        : same(f.parse, INTEGER_PARSE)
          ? 'integer'
          : 'other';
  return {
    kind,
    ...(f.char ? { char: f.char } : {}),
    ...(kind !== 'other' && f.default !== undefined ? { default: f.default as FastFlag['default'] } : {}),
    ...(f.options ? { options: [...f.options] } : {}),
    ...(f.min !== undefined ? { min: f.min } : {}),
    ...(f.max !== undefined ? { max: f.max } : {}),
  };
}

/**
 * The fast parser's spec of an oclif command class (its flags with the base flags, as oclif
 * aggregates them), written by scripts/build.mjs; undefined when the class uses something the
 * fast parser does not implement (the command then always runs through oclif).
 */
export function fastSpecOf(cls: Command.Class): FastCommandSpec | undefined {
  if (cls.enableJsonFlag) return undefined;
  const args = Object.entries((cls.args ?? {}) as Record<string, ArgDef>).map(([name, a]) => ({ name, a }));
  if (args.some(({ a }) => a.default !== undefined || a.options !== undefined || !same(a.parse, ARG_STRING_PARSE))) return undefined;
  const all = { ...(cls.baseFlags ?? {}), ...(cls.flags ?? {}) } as Record<string, FlagDef>;
  const flags = Object.fromEntries(Object.entries(all).map(([name, f]) => [name, fastFlag(f)]));
  // A flag left to oclif must not matter when absent: no default (oclif may compute or parse it),
  // no value from the environment, no requirement or relation to other flags.
  if (Object.entries(all).some(([name, f]) => flags[name]!.kind === 'other' && (f.default !== undefined || ACTS_WHEN_ABSENT.some((k) => f[k])))) return undefined;
  return {
    strict: cls.strict !== false,
    args: args.map(({ name, a }) => ({ name, required: Boolean(a.required) })),
    flags,
  };
}
