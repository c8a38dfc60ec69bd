import { badParameter } from '../errors.js';
import type { SessionLine } from './types.js';

/*
 * Search text, tokenized once here for both backends, so SQLite FTS5 and PostgreSQL full text
 * match the same lines: a token is a run of letters and digits (NFKC, lower case), and anything
 * else separates tokens. The store keeps each line's tokens joined by spaces beside its text;
 * FTS5 (unicode61, no diacritic folding) and PostgreSQL's `simple` configuration then split that
 * column back into exactly these tokens. Queries are built from the same tokens, never spliced
 * from user text, so no FTS5 or tsquery syntax can be injected.
 */

const TOKEN = /[\p{L}\p{N}]+/gu;

/** The line's tokens, in order. */
export function tokenize(text: string): string[] {
  return text.normalize('NFKC').toLowerCase().match(TOKEN) ?? [];
}

/** A line as the session_lines table holds it, on both backends: its text, and its tokens for full text search. */
export function sessionLineRow(sessionId: string, line: SessionLine): { session_id: string; seq: number; offset_ms: number; text: string; tokens: string } {
  return { session_id: sessionId, seq: line.seq, offset_ms: Math.max(0, Math.round(line.offsetMs)), text: line.text, tokens: tokenize(line.text).join(' ') };
}

/** Consecutive tokens that must appear in this order (a phrase; one word is a phrase of one). */
export interface SearchTerm {
  tokens: string[];
  /** The last token matches as a prefix (`need*`). */
  prefix: boolean;
}

/**
 * A user's query: `"quoted phrases"`, words, and a trailing `*` for a prefix; every term must
 * match. A word with punctuation inside (`needle-42`, `/etc/passwd`) is a phrase of its tokens,
 * as the line it came from was indexed.
 */
export function parseSearchQuery(text: string): SearchTerm[] {
  const terms: SearchTerm[] = [];
  const re = /"([^"]*)"(\*?)|(\S+)/g;
  for (let m = re.exec(text); m; m = re.exec(text)) {
    const raw = m[1] ?? m[3]!;
    const prefix = m[1] !== undefined ? m[2] === '*' : raw.endsWith('*');
    const tokens = tokenize(raw);
    // A `*` after punctuation (`foo-*`) has no token to extend: the term is the tokens before it.
    if (tokens.length > 0) terms.push({ tokens, prefix: prefix && /[\p{L}\p{N}]\*?"?$/u.test(raw.replace(/\*+$/, '')) });
  }
  if (terms.length === 0) throw badParameter(`nothing to search for in "${text}"`, 'give a word, a "quoted phrase" or a prefix*');
  return terms;
}

/** FTS5 MATCH syntax: each term a quoted phrase (tokens are letters and digits only), ANDed. */
export function fts5Query(terms: readonly SearchTerm[]): string {
  return terms.map((t) => `"${t.tokens.join(' ')}"${t.prefix ? '*' : ''}`).join(' AND ');
}

/** PostgreSQL to_tsquery syntax: `<->` between the tokens of a phrase, `:*` for a prefix, `&` between terms. */
export function tsQuery(terms: readonly SearchTerm[]): string {
  return terms
    .map((t) => {
      const parts = t.tokens.map((tok, i) => (t.prefix && i === t.tokens.length - 1 ? `${tok}:*` : tok));
      return `(${parts.join(' <-> ')})`;
    })
    .join(' & ');
}
