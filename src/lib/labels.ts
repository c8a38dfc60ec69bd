import { badParameter } from './errors.js';

/*
 * Node labels and the user rules that match them (Teleport's `node_labels`): a node has one value
 * per key; a rule maps each key to the values it accepts, and a node matches when every key of
 * the rule matches (`*` as a key matches any node, `*` as a value any value of that key).
 */
export type Labels = Record<string, string>;
export type LabelRule = Record<string, string[]>;

/** Every node: the default rule, so `tctl users add joe joe,root` (the seed's command) reaches all. */
export const ALL_NODES: LabelRule = Object.freeze({ '*': ['*'] }) as LabelRule;

const KEY = /^[A-Za-z0-9][A-Za-z0-9._/-]{0,62}$/;
const VALUE = /^[A-Za-z0-9._/:@-]{1,128}$/;

function pairs(text: string, what: string): [string, string][] {
  const items = text.split(',').map((s) => s.trim());
  if (items.length === 0 || items.every((s) => s === '')) throw badParameter(`no ${what} given`, 'write them as key=value pairs separated by commas, e.g. env=staging,team=db');
  return items.map((item) => {
    const i = item.indexOf('=');
    if (item === '' || i <= 0) throw badParameter(`invalid ${what.replace(/s$/, '')} "${item}"`, 'write labels as key=value pairs separated by commas, e.g. env=staging,team=db');
    return [item.slice(0, i).trim(), item.slice(i + 1).trim()];
  });
}

/** Parses a node's `k=v,k=v` labels (one value per key; an empty string means none). */
export function parseLabels(text: string): Labels {
  // No prototype: a label named `constructor` or `toString` is just a label.
  const out: Labels = Object.create(null) as Labels;
  if (text.trim() === '') return out;
  for (const [k, v] of pairs(text, 'labels')) {
    if (!KEY.test(k)) throw badParameter(`invalid label key "${k}"`, 'use letters, digits, ".", "_", "/" or "-", starting with a letter or digit');
    if (!VALUE.test(v)) throw badParameter(`invalid value "${v}" for label ${k}`, 'use 1-128 letters, digits, ".", "_", "/", ":", "@" or "-"');
    if (Object.hasOwn(out, k) && out[k] !== v) throw badParameter(`label ${k} is given twice`, 'a node has one value per label');
    out[k] = v;
  }
  return out;
}

/** Parses a user's rule: `*` (all nodes), or `k=v,k=v2,k2=*` (values of one key accumulate). */
export function parseLabelRule(text: string): LabelRule {
  if (text.trim() === '*') return { ...ALL_NODES };
  const out: LabelRule = Object.create(null) as LabelRule;
  for (const [k, v] of pairs(text, 'node labels')) {
    if (k !== '*' && !KEY.test(k)) throw badParameter(`invalid label key "${k}"`, 'use letters, digits, ".", "_", "/" or "-", or * for all nodes');
    if (v !== '*' && !VALUE.test(v)) throw badParameter(`invalid value "${v}" for label ${k}`, 'use 1-128 letters, digits, ".", "_", "/", ":", "@" or "-", or *');
    const values = Object.hasOwn(out, k) ? out[k]! : (out[k] = []);
    if (!values.includes(v)) values.push(v);
  }
  return out;
}

/** Whether a node with `labels` matches `rule`. */
export function labelsMatch(rule: LabelRule, labels: Labels): boolean {
  const keys = Object.keys(rule);
  if (keys.length === 0) return false;
  return keys.every((k) => {
    const values = rule[k]!;
    if (k === '*') return values.includes('*');
    const v = Object.hasOwn(labels, k) ? labels[k] : undefined;
    return v !== undefined && (values.includes('*') || values.includes(v));
  });
}

export function formatLabels(labels: Labels): string {
  return Object.entries(labels)
    .sort(([a], [b]) => (a < b ? -1 : 1))
    .map(([k, v]) => `${k}=${v}`)
    .join(',');
}

export function formatLabelRule(rule: LabelRule): string {
  return Object.entries(rule)
    .flatMap(([k, vs]) => vs.map((v) => (k === '*' && v === '*' ? '*' : `${k}=${v}`)))
    .join(',');
}
