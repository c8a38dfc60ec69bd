import type { Context } from 'hono';
import type { z } from 'zod';
import { badParameter } from '../errors.js';
import { parseInput } from '../api/index.js';

/** Parses and validates a JSON request body once, at the edge, into a typed value. */
export async function jsonBody<T extends z.ZodType>(c: Context, schema: T, opts: { requireContentType?: boolean } = {}): Promise<z.infer<T>> {
  if (opts.requireContentType && !(c.req.header('content-type') ?? '').startsWith('application/json')) {
    throw badParameter('send the request body as application/json');
  }
  let raw: unknown;
  try {
    raw = await c.req.json();
  } catch {
    throw badParameter('request body is not valid JSON');
  }
  return parseInput(schema, raw, 'request');
}
