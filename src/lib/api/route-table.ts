import { z } from 'zod';
import { badParameter, TollgateError, type ErrorKind } from '../errors.js';

/*
 * Route tables: one declaration per HTTP route (method, path, what it takes, what it answers),
 * shared by the server that registers a handler for each (mount-routes.ts) and the client that
 * calls it. The request schemas validate on the server, the response schemas on the client, so a
 * field renamed on one side is a type error on the other and a malformed answer is a clear error.
 */

export type Method = 'GET' | 'POST' | 'PATCH' | 'DELETE';

/** An answer that is not JSON (a recording, an HTML file): the client checks its content type. */
export interface RawReply {
  readonly rawContentType: string;
}

export interface Route<
  P extends string = string,
  Params extends z.ZodType | undefined = z.ZodType | undefined,
  Q extends z.ZodType | undefined = z.ZodType | undefined,
  B extends z.ZodType | undefined = z.ZodType | undefined,
  R extends z.ZodType | RawReply = z.ZodType | RawReply,
  A extends boolean = boolean,
> {
  readonly method: Method;
  readonly path: P;
  /** Path parameters; without a schema each `:name` in the path is a plain string. */
  readonly params: Params;
  /** The query string (values arrive as strings). */
  readonly query: Q;
  /** The JSON body. */
  readonly body: B;
  readonly response: R;
  /** HTTP status of a success. */
  readonly status: 200 | 201;
  /** Refuse a body not sent as application/json (a cross-site HTML form cannot send one). */
  readonly requireJson: boolean;
  /** Needs a logged-in user: the server authenticates before it validates anything else. */
  readonly auth: A;
}

// `any` so that every concrete route (whatever its schemas) is assignable.
export type AnyRoute = Route<string, any, any, any, any, boolean>;
export type JsonRoute = AnyRoute & { readonly response: z.ZodType };
export type RawRoute = AnyRoute & { readonly response: RawReply };

/** Declares a route; omitted parts are `undefined` (no query, no body, no authentication). */
export function route<
  const P extends string,
  R extends z.ZodType | RawReply,
  Params extends z.ZodType | undefined = undefined,
  Q extends z.ZodType | undefined = undefined,
  B extends z.ZodType | undefined = undefined,
  A extends boolean = false,
>(def: { method: Method; path: P; params?: Params; query?: Q; body?: B; response: R; status?: 200 | 201; requireJson?: boolean; auth?: A }): Route<P, Params, Q, B, R, A> {
  return {
    method: def.method,
    path: def.path,
    params: def.params as Params,
    query: def.query as Q,
    body: def.body as B,
    response: def.response,
    status: def.status ?? 200,
    requireJson: def.requireJson ?? false,
    auth: (def.auth ?? false) as A,
  };
}

/** A non-JSON answer of this content type. */
export const raw = (contentType: string): RawReply => ({ rawContentType: contentType });

/** Whether a route answers raw bytes rather than JSON. */
export function isRawReply(r: z.ZodType | RawReply): r is RawReply {
  return typeof (r as RawReply).rawContentType === 'string';
}

/** `'/v1/users/:name/reset'` → `'name'`. */
export type PathParams<P extends string> = P extends `${string}:${infer N}/${infer Rest}` ? N | PathParams<`/${Rest}`> : P extends `${string}:${infer N}` ? N : never;

type Simplify<T> = { [K in keyof T]: T[K] } & {};
type IsSchema<S> = [S] extends [z.ZodType] ? true : false;
type OptionalIfEmpty<K extends string, T> = {} extends T ? { [k in K]?: T } : { [k in K]: T };

type ParamsIn<R extends AnyRoute> = IsSchema<R['params']> extends true ? z.input<R['params']> : Record<PathParams<R['path']>, string>;
type ParamsOut<R extends AnyRoute> = IsSchema<R['params']> extends true ? z.output<R['params']> : Record<PathParams<R['path']>, string>;

/** What a client passes to call a route. */
export type RouteInput<R extends AnyRoute> = Simplify<
  ([PathParams<R['path']>] extends [never] ? {} : { params: ParamsIn<R> }) &
    (IsSchema<R['query']> extends true ? OptionalIfEmpty<'query', z.input<R['query']>> : {}) &
    (IsSchema<R['body']> extends true ? { body: z.input<R['body']> } : {})
>;

/** The input argument of a client's call: optional when the route takes nothing required. */
export type RouteArgs<R extends AnyRoute> = {} extends RouteInput<R> ? [input?: RouteInput<R>] : [input: RouteInput<R>];

/** What a handler receives: the request, validated. `user` is set on routes with `auth: true`. */
export interface RouteRequest<R extends AnyRoute, U = never> {
  params: ParamsOut<R>;
  query: IsSchema<R['query']> extends true ? z.output<R['query']> : Record<string, never>;
  body: IsSchema<R['body']> extends true ? z.output<R['body']> : undefined;
  user: R['auth'] extends true ? U : undefined;
}

/** What a handler returns: the JSON body before the client parses it, or a Response for raw routes. */
export type RouteResult<R extends AnyRoute> = R['response'] extends z.ZodType ? z.input<R['response']> : Response;

/** What a client gets back from a JSON route, validated. */
export type RouteOutput<R extends JsonRoute> = z.output<R['response']>;

/**
 * Validates untrusted input. An issue raised with a complete message (code `custom`, from
 * {@link oneOf} or a refinement) is shown as is, with its `params.hint`; others are prefixed
 * with where they are.
 */
export function parseInput<S extends z.ZodType>(schema: S, input: unknown, where: string): z.output<S> {
  const r = schema.safeParse(input);
  if (r.success) return r.data;
  const i = r.error.issues[0]!;
  if (i.code === 'custom') throw badParameter(i.message, (i.params as { hint?: string } | undefined)?.hint);
  throw badParameter(`invalid ${where}: ${i.path.join('.') || (where === 'request' ? 'body' : where)}: ${i.message}`);
}

/** A string from a fixed list; anything else is refused with `message(value)` and `hint`. */
export function oneOf<const T extends readonly string[]>(values: T, message: (value: string) => string, hint?: string): z.ZodType<T[number]> {
  return z.custom<T[number]>((v) => typeof v === 'string' && values.includes(v), { error: (iss) => message(String(iss.input)), params: { hint } });
}

/** A `limit` query parameter: an integer 1..10000, `fallback` when absent. */
export function limitParam(fallback: number) {
  return z
    .union([z.number(), z.string()])
    .optional()
    .transform((v, ctx) => {
      const n = v === undefined ? fallback : Number(v);
      if (!Number.isInteger(n) || n < 1 || n > 10_000) {
        ctx.addIssue({ code: 'custom', message: 'limit must be between 1 and 10000' });
        return z.NEVER;
      }
      return n;
    });
}

/** The path (with query string) of a call: `:name` filled in and encoded; undefined query values left out. */
export function routePath(r: AnyRoute, input: { params?: Record<string, unknown>; query?: Record<string, unknown> } = {}): string {
  const path = r.path.replace(/:([A-Za-z_]\w*)/g, (_, name: string) => {
    const v = input.params?.[name];
    if (v === undefined || v === null) throw new TypeError(`${r.method} ${r.path}: no value for :${name}`);
    return encodeURIComponent(String(v));
  });
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(input.query ?? {})) {
    if (v !== undefined && v !== null) q.set(k, Array.isArray(v) ? v.join(',') : String(v));
  }
  const qs = q.toString();
  return qs ? `${path}?${qs}` : path;
}

/** The error envelope both APIs answer with (errors.ts kinds; the web app's onError and the admin app's). */
export const errorReply = z.object({
  error: z.object({ kind: z.string(), message: z.string(), hint: z.string().optional() }),
});

const KINDS: ReadonlySet<string> = new Set<ErrorKind>(['bad-parameter', 'not-found', 'access-denied', 'already-exists', 'conflict', 'unavailable', 'internal']);

/** Re-raises a server's error answer as the TollgateError it was; `fallback` for an answer without the envelope. */
export function errorFromReply(json: unknown, fallback: { kind: ErrorKind; message: string }): TollgateError {
  const r = errorReply.safeParse(json);
  if (!r.success) return new TollgateError(fallback.kind, fallback.message);
  const e = r.data.error;
  return new TollgateError(KINDS.has(e.kind) ? (e.kind as ErrorKind) : fallback.kind, e.message, { hint: e.hint });
}

/** Validates a JSON answer at the client's edge: a malformed one becomes a TollgateError of `kind`. */
export function decodeReply<R extends JsonRoute>(r: R, json: unknown, who: string, o: { kind: ErrorKind; hint?: string }): RouteOutput<R> {
  const res = (r.response as z.ZodType).safeParse(json);
  if (res.success) return res.data as RouteOutput<R>;
  const i = res.error.issues[0]!;
  const at = i.path.length > 0 ? ` at ${i.path.join('.')}` : '';
  throw new TollgateError(o.kind, `${who} sent an unexpected answer to ${r.method} ${r.path}${at}: ${i.message}`, { hint: o.hint, cause: res.error });
}
