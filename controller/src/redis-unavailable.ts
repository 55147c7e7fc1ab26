// Recognising "Redis is away" among the errors a request can fail with, so the HTTP kit answers 503
// REDIS_UNAVAILABLE with Retry-After (callers retry) instead of a 500 (a bug).
import { HttpAgentError } from '../../src/shared/errors.js';

/** ioredis gives up on a command while Redis is away (maxRetriesPerRequest), closed, loading or failing over. */
export function isRedisUnavailable(err: Error): boolean {
  return (
    err.name === 'MaxRetriesPerRequestError' ||
    /Connection is closed|Stream isn't writeable|ECONNREFUSED|LOADING|CLUSTERDOWN|TRYAGAIN|Command timed out/.test(err.message)
  );
}

/** The controller's classifier for the kit's error handler. */
export function classifyRedisFailure(err: Error): HttpAgentError | undefined {
  if (!isRedisUnavailable(err)) return undefined;
  return new HttpAgentError('REDIS_UNAVAILABLE', 'the controller cannot reach Redis; retry shortly', { cause: err, retryAfterSec: 1 });
}
