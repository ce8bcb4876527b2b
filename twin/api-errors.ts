// The local API's errors: {code, message} with an HTTP status, from our own errors, fastify's and
// the guard's refusals.
import { EdgetwinError, ErrorCodes } from '../core/errors.ts';
import type { Refusal } from './http-guard.ts';

/** The largest request body the API reads. */
export const MAX_BODY = 64 * 1024;

export class HttpError extends Error {
  constructor(readonly status: number, readonly code: string, message: string, readonly headers?: Record<string, string>) {
    super(message);
  }
}

export const refuse = (r: Refusal) => new HttpError(r.status, r.code, r.message, r.headers);

/** A path segment fastify could not decode is the caller's mistake, not ours. */
export const malformedPath = (path: string) => new HttpError(400, ErrorCodes.BAD_REQUEST, `the path "${path}" has a malformed percent-encoding (write a literal % as %25)`);

export function toHttpError(err: unknown): HttpError {
  if (err instanceof HttpError) return err;
  if (err instanceof URIError) return new HttpError(400, ErrorCodes.BAD_REQUEST, `malformed percent-encoding in the request: ${err.message}`);
  if (err instanceof EdgetwinError) {
    // A store that refused the write is the gateway's trouble, not the request's: 503, try again later.
    const status = err.code === ErrorCodes.NOT_FOUND ? 404 : err.code === ErrorCodes.READ_ONLY || err.code === ErrorCodes.CONFLICT ? 409 : err.code === ErrorCodes.STORAGE ? 503 : 400;
    return new HttpError(status, err.code, err.format());
  }
  // fastify's own errors (a body over the limit, a connection cut mid-body) carry their status.
  const fst = err as { code?: string; statusCode?: number; message?: string };
  if (fst.code === 'FST_ERR_CTP_BODY_TOO_LARGE') return new HttpError(400, ErrorCodes.BAD_REQUEST, `the body is larger than ${MAX_BODY} bytes`);
  if (typeof fst.statusCode === 'number' && fst.statusCode >= 400 && fst.statusCode < 500) return new HttpError(fst.statusCode, ErrorCodes.BAD_REQUEST, fst.message ?? 'bad request');
  return new HttpError(500, ErrorCodes.INTERNAL, err instanceof Error ? err.message : String(err));
}
