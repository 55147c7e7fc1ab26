// The one place errors become responses: HttpAgentError by its code and status, fastify's own errors
// (body too large, bad JSON, wrong media type) mapped to stable codes, anything else a 500 with no details.
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { HttpAgentError, OverloadedError } from '../errors.js';

const fastifyCodes: Record<string, { code: string; status: number; message?: string }> = {
  FST_ERR_CTP_BODY_TOO_LARGE: { code: 'BODY_TOO_LARGE', status: 413, message: 'request body is larger than the limit' },
  FST_ERR_CTP_INVALID_JSON_BODY: { code: 'BAD_JSON', status: 400, message: 'request body is not valid JSON' },
  FST_ERR_CTP_EMPTY_JSON_BODY: { code: 'BAD_JSON', status: 400, message: 'request body is empty but content-type is JSON' },
  FST_ERR_CTP_INVALID_MEDIA_TYPE: { code: 'UNSUPPORTED_MEDIA_TYPE', status: 415, message: 'send application/json' },
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: { code: 'BAD_CONTENT_LENGTH', status: 400 },
};

export function toHttpAgentError(err: unknown): HttpAgentError {
  if (err instanceof HttpAgentError) return err;
  const fe = err as Partial<FastifyError>;
  const known = fe.code ? fastifyCodes[fe.code] : undefined;
  if (known) return new HttpAgentError(known.code, known.message ?? fe.message ?? known.code, { statusCode: known.status, cause: err });
  // JSON.parse failures surface as SyntaxError with statusCode 400 from fastify's parser.
  if (err instanceof SyntaxError && fe.statusCode === 400) return new HttpAgentError('BAD_JSON', 'request body is not valid JSON', { statusCode: 400, cause: err });
  if (typeof fe.statusCode === 'number' && fe.statusCode >= 400 && fe.statusCode < 500) {
    return new HttpAgentError('BAD_REQUEST', fe.message ?? 'bad request', { statusCode: fe.statusCode, cause: err });
  }
  return new HttpAgentError('INTERNAL', 'internal error', { statusCode: 500, cause: err });
}

export function errorHandler(err: unknown, request: FastifyRequest, reply: FastifyReply): FastifyReply {
  const e = toHttpAgentError(err);
  if (e.statusCode === 502) request.log.warn({ code: e.code, reason: e.message }, 'upstream failed');
  else if (e.statusCode >= 500) request.log.error({ err }, 'request failed');
  else request.log.debug({ code: e.code }, 'request refused');
  if (e instanceof OverloadedError) void reply.header('retry-after', String(e.retryAfterSec));
  return reply.code(e.statusCode).type('application/json; charset=utf-8').send(e.toJSON());
}
