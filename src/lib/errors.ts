/**
 * The one error type tollgate raises on purpose. `kind` decides the HTTP status and the CLI exit
 * code (mapped in exactly two places: the web/admin error handler and the CLI entry point);
 * `message` is the user-facing line and `hint` says what to do about it.
 */
export type ErrorKind =
  | 'bad-parameter'
  | 'not-found'
  | 'access-denied'
  | 'already-exists'
  | 'conflict'
  | 'unavailable'
  | 'internal';

export class TollgateError extends Error {
  readonly kind: ErrorKind;
  readonly hint: string | undefined;

  constructor(kind: ErrorKind, message: string, options: { hint?: string; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'TollgateError';
    this.kind = kind;
    this.hint = options.hint;
  }
}

export const badParameter = (message: string, hint?: string, cause?: unknown) =>
  new TollgateError('bad-parameter', message, { hint, cause });
export const notFound = (message: string, hint?: string) => new TollgateError('not-found', message, { hint });
export const accessDenied = (message: string, hint?: string) => new TollgateError('access-denied', message, { hint });
export const alreadyExists = (message: string, hint?: string) => new TollgateError('already-exists', message, { hint });
export const conflict = (message: string, hint?: string) => new TollgateError('conflict', message, { hint });
export const unavailable = (message: string, hint?: string, cause?: unknown) =>
  new TollgateError('unavailable', message, { hint, cause });

export function isTollgateError(err: unknown): err is TollgateError {
  return err instanceof TollgateError;
}

const HTTP_STATUS: Record<ErrorKind, number> = {
  'bad-parameter': 400,
  'access-denied': 403,
  'not-found': 404,
  'already-exists': 409,
  conflict: 409,
  unavailable: 503,
  internal: 500,
};

/** HTTP status for an error kind (used by the admin and web APIs). */
export function httpStatusFor(kind: ErrorKind): number {
  return HTTP_STATUS[kind];
}

/** Inverse of httpStatusFor, so an API client can re-raise the server's error with its kind. */
export function kindForHttpStatus(status: number): ErrorKind {
  for (const [kind, code] of Object.entries(HTTP_STATUS)) if (code === status) return kind as ErrorKind;
  return status >= 500 ? 'internal' : 'bad-parameter';
}

/**
 * Exit codes follow Teleport's tools: every failure is 1, except usage errors found by the flag
 * parser (2, as oclif and most Unix tools do) and a service that is not reachable (3), which
 * scripts want to tell apart from a refused request.
 */
export function exitCodeFor(kind: ErrorKind): number {
  return kind === 'unavailable' ? 3 : 1;
}
