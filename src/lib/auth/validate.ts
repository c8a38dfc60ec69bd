import { badParameter } from '../errors.js';
import type { UserRole } from '../store/index.js';

/*
 * Names that end up inside certificates (key id, principals) and in URLs and file paths, so they
 * are validated strictly once, here.
 */
const USER_NAME = /^[A-Za-z0-9][A-Za-z0-9._@+-]{0,63}$/;
/** POSIX-ish login names as useradd accepts them (plus uppercase and dots seen on real fleets). */
const LOGIN = /^[A-Za-z_][A-Za-z0-9_.-]{0,31}$/;

export const ROLES: readonly UserRole[] = ['access', 'auditor'];

export function validateUserName(name: string): string {
  if (!USER_NAME.test(name)) {
    throw badParameter(
      `invalid user name "${name}"`,
      'use 1-64 letters, digits, ".", "_", "@", "+" or "-", starting with a letter or digit',
    );
  }
  return name;
}

/** Parses a comma-separated login list (`joe,root,ec2-user`): non-empty, valid, no duplicates. */
export function parseLogins(text: string | readonly string[]): string[] {
  const items = (typeof text === 'string' ? text.split(',') : [...text]).map((s) => s.trim());
  if (items.length === 0 || items.every((s) => s === '')) {
    throw badParameter('no logins given', 'name the OS logins the user may use, e.g. tctl users add joe joe,root');
  }
  const out: string[] = [];
  for (const l of items) {
    if (l === '') throw badParameter(`empty login in "${items.join(',')}"`, 'separate logins with single commas, e.g. joe,root');
    if (!LOGIN.test(l)) throw badParameter(`invalid login "${l}"`, 'logins are OS user names: letters, digits, "_", "." or "-", not starting with a digit or "-"');
    if (!out.includes(l)) out.push(l);
  }
  return out;
}

export function parseRoles(text: string | readonly string[]): UserRole[] {
  const items = (typeof text === 'string' ? text.split(',') : [...text]).map((s) => s.trim()).filter(Boolean);
  if (items.length === 0) throw badParameter('no roles given', `roles are: ${ROLES.join(', ')}`);
  for (const r of items) {
    if (!ROLES.includes(r as UserRole)) throw badParameter(`unknown role "${r}"`, `roles are: ${ROLES.join(', ')}`);
  }
  return [...new Set(items)] as UserRole[];
}

/** Host names for host certificates: DNS names or IP addresses, no wildcards in principals. */
export function parseHostNames(text: string | readonly string[]): string[] {
  const items = (typeof text === 'string' ? text.split(',') : [...text]).map((s) => s.trim()).filter(Boolean);
  if (items.length === 0) throw badParameter('no host names given', 'e.g. --host=node1.example.com,10.0.0.5');
  for (const h of items) {
    if (!/^[A-Za-z0-9._:-]{1,253}$/.test(h) || h.startsWith('-')) {
      throw badParameter(`invalid host name "${h}"`, 'use DNS names or IP addresses separated by commas');
    }
  }
  return [...new Set(items)];
}
