// The one place errors become responses on every server: HttpAgentError by its registered code, fastify's
// own refusals (body too large, bad JSON, wrong media type, bad URL) under stable codes, a server's own
// classifier next (the controller's: Redis away → 503), anything else a 500 with no details.
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { HttpAgentError, NotFoundError, ValidationError, type ErrorCode } from '../errors.js';

/** fastify's errors that are the caller's fault, each with the code and message the caller sees. */
const FASTIFY_CODES: Record<string, { code: ErrorCode; message: string }> = {
  FST_ERR_CTP_BODY_TOO_LARGE: { code: 'BODY_TOO_LARGE', message: 'request body is larger than the limit' },
  FST_ERR_CTP_INVALID_JSON_BODY: { code: 'BAD_JSON', message: 'request body is not valid JSON' },
  FST_ERR_CTP_EMPTY_JSON_BODY: { code: 'BAD_JSON', message: 'request body is empty but content-type is JSON' },
  FST_ERR_CTP_INVALID_MEDIA_TYPE: { code: 'UNSUPPORTED_MEDIA_TYPE', message: 'send application/json' },
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: { code: 'BAD_CONTENT_LENGTH', message: 'request body size does not match Content-Length' },
  FST_ERR_BAD_URL: { code: 'BAD_URL', message: 'a path segment is not valid percent-encoding' },
  FST_ERR_MAX_PARAM_LENGTH: { code: 'BAD_URL', message: 'a path parameter is longer than the server takes' },
};

/** A server's own recognition of failures (e.g. Redis unreachable); undefined leaves the error to the kit. */
export type ErrorClassifier = (err: Error) => HttpAgentError | undefined;

export function toHttpAgentError(err: unknown, classify?: ErrorClassifier): HttpAgentError {
  if (err instanceof HttpAgentError) return err;
  const fe = (err ?? {}) as Partial<FastifyError>;
  const known = fe.code ? FASTIFY_CODES[fe.code] : undefined;
  if (known) return new HttpAgentError(known.code, known.message, { cause: err });
  // A content-type parser of our own that hands on JSON.parse's SyntaxError marks it 400.
  if (err instanceof SyntaxError && fe.statusCode === 400) return new HttpAgentError('BAD_JSON', 'request body is not valid JSON', { cause: err });
  const classified = err instanceof Error ? classify?.(err) : undefined;
  if (classified) return classified;
  // Any other refusal fastify marks as the caller's (an aborted upload...): 400 like every bad request.
  if (typeof fe.statusCode === 'number' && fe.statusCode >= 400 && fe.statusCode < 500) {
    return new ValidationError(fe.message ?? 'bad request', [], { cause: err });
  }
  return new HttpAgentError('INTERNAL', 'internal error', { cause: err });
}

export interface ErrorHandlerOptions {
  classify?: ErrorClassifier;
}

export function createErrorHandler(opts: ErrorHandlerOptions = {}) {
  return function errorHandler(err: unknown, request: FastifyRequest, reply: FastifyReply): FastifyReply {
    const e = toHttpAgentError(err, opts.classify);
    // A dependency away (502 upstream, 503 Redis) is an outage callers ride out by retrying: a warning.
    if (e.statusCode === 502 || e.statusCode === 503) request.log.warn({ code: e.code, reason: e.message }, 'dependency unavailable');
    else if (e.statusCode >= 500) request.log.error({ err }, 'request failed');
    else request.log.debug({ code: e.code }, 'request refused');
    if (e.retryAfterSec !== undefined) void reply.header('retry-after', String(e.retryAfterSec));
    return reply.code(e.statusCode).type('application/json; charset=utf-8').send(e.toJSON());
  };
}

/**
 * For fastify's `frameworkErrors` option: a malformed or over-long URL is refused while routing, before
 * any hook or the error handler runs, and fastify would otherwise answer it with a body of its own shape.
 */
export const frameworkErrors = createErrorHandler();

/** 404 NOT_FOUND for a method and path no route serves (thrown, so it takes the error handler's path). */
export async function notFoundHandler(request: FastifyRequest): Promise<never> {
  throw new NotFoundError('NOT_FOUND', `no route ${request.method} ${request.url.split('?')[0]}`);
}

/** Installs the kit's error and 404 handlers on `app`; create `app` with `frameworkErrors` as well. */
export function installErrorHandling(app: FastifyInstance, opts: ErrorHandlerOptions = {}): void {
  app.setErrorHandler(createErrorHandler(opts));
  app.setNotFoundHandler(notFoundHandler);
}
