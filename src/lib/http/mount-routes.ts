import type { Context, Env, Hono } from 'hono';
import { jsonBody } from './json-body.js';
import { isRawReply, parseInput, type AnyRoute, type RouteRequest, type RouteResult } from '../api/index.js';

/** Serves one route: gets the validated request, returns the JSON body (or a Response for raw routes). */
export type Handler<R extends AnyRoute, E extends Env, U> = (req: RouteRequest<R, U>, c: Context<E>) => Promise<RouteResult<R>> | RouteResult<R>;

/** One handler per route of the table: a missing one, or one answering the wrong shape, fails typecheck. */
export type Handlers<T extends Record<string, AnyRoute>, E extends Env, U = never> = { [K in keyof T]: Handler<T[K], E, U> };

export interface MountOptions<E extends Env, U> {
  /** Who is calling, for routes with `auth: true`; throws access-denied when nobody is logged in. */
  authenticate?: (c: Context<E>) => Promise<U>;
}

/**
 * Registers a handler for every route of `table` on `app`. Per request: authenticate (routes with
 * `auth`), then validate path, query and body against the route's schemas (a bad one is a
 * bad-parameter error, rendered by the app's onError), then answer the handler's value as JSON
 * with the route's status.
 */
export function mountRoutes<T extends Record<string, AnyRoute>, E extends Env, U = never>(app: Hono<E>, table: T, handlers: Handlers<T, E, U>, o: MountOptions<E, U> = {}): void {
  for (const name of Object.keys(table) as Array<keyof T & string>) {
    const r: AnyRoute = table[name]!;
    const handle = handlers[name] as unknown as Handler<AnyRoute, E, U>;
    const authenticate = o.authenticate;
    if (r.auth && !authenticate) throw new TypeError(`mountRoutes: ${r.method} ${r.path} needs a user but no authenticate() was given`);
    app.on(r.method, r.path, async (c: Context<E>) => {
      const user = r.auth ? await authenticate!(c) : undefined;
      const req = {
        params: r.params ? parseInput(r.params, c.req.param(), 'path') : c.req.param(),
        query: r.query ? parseInput(r.query, c.req.query(), 'query') : {},
        body: r.body ? await jsonBody(c, r.body, { requireContentType: r.requireJson }) : undefined,
        user,
      } as RouteRequest<AnyRoute, U>;
      const out = await handle(req, c);
      return isRawReply(r.response) ? (out as Response) : c.json(out as object, r.status);
    });
  }
}
