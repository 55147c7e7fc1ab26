// The one error mapping of the controller's HTTP API: every failure leaves as {"error":{"code","message"}}.
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { HttpAgentError, isHttpAgentError } from '../../../src/shared/errors.js';

/** fastify's own errors that are the caller's fault, under this project's codes. */
const FASTIFY_CODES: Record<string, { status: number; code: string }> = {
  FST_ERR_CTP_BODY_TOO_LARGE: { status: 413, code: 'BODY_TOO_LARGE' },
  FST_ERR_CTP_INVALID_MEDIA_TYPE: { status: 415, code: 'UNSUPPORTED_MEDIA_TYPE' },
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: { status: 400, code: 'BAD_CONTENT_LENGTH' },
  FST_ERR_CTP_EMPTY_JSON_BODY: { status: 400, code: 'BAD_JSON' },
  FST_ERR_CTP_INVALID_JSON_BODY: { status: 400, code: 'BAD_JSON' },
  FST_ERR_BAD_URL: { status: 400, code: 'BAD_URL' },
};

/** ioredis gives up on a command while Redis is away: the caller should retry shortly. */
function isRedisUnavailable(err: Error): boolean {
  return (
    err.name === 'MaxRetriesPerRequestError' ||
    /Connection is closed|Stream isn't writeable|ECONNREFUSED|LOADING|CLUSTERDOWN|TRYAGAIN|Command timed out/.test(err.message)
  );
}

export function toHttpError(err: FastifyError | Error): HttpAgentError {
  if (isHttpAgentError(err)) return err;
  const fe = err as FastifyError;
  const mapped = fe.code ? FASTIFY_CODES[fe.code] : undefined;
  if (mapped) return new HttpAgentError(mapped.code, fe.message, { statusCode: mapped.status, cause: err });
  if (err instanceof SyntaxError || (fe.statusCode === 400 && /JSON/i.test(fe.message))) {
    return new HttpAgentError('BAD_JSON', 'the body is not valid JSON', { statusCode: 400, cause: err });
  }
  if (isRedisUnavailable(err)) {
    return new HttpAgentError('REDIS_UNAVAILABLE', 'the controller cannot reach Redis; retry shortly', { statusCode: 503, retryable: true, cause: err });
  }
  if (typeof fe.statusCode === 'number' && fe.statusCode >= 400 && fe.statusCode < 500) {
    return new HttpAgentError('BAD_REQUEST', fe.message, { statusCode: fe.statusCode, cause: err });
  }
  return new HttpAgentError('INTERNAL', 'internal error', { statusCode: 500, cause: err });
}

export function errorHandler(err: FastifyError, req: FastifyRequest, reply: FastifyReply): void {
  const e = toHttpError(err);
  // A Redis restart is an expected outage the callers ride out by retrying: a warning, not an error.
  if (e.statusCode === 503) req.log.warn({ code: e.code, err: err.message }, 'request refused: Redis unavailable');
  else if (e.statusCode >= 500) req.log.error({ err }, 'request failed');
  else req.log.debug({ code: e.code }, 'request refused');
  if (e.statusCode === 503) void reply.header('retry-after', '1');
  void reply.code(e.statusCode).type('application/json').send(e.toJSON());
}
