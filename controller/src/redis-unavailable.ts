// Recognising "Redis is away" or "Redis is full" among the errors a request can fail with, so the HTTP
// kit answers 503 with Retry-After (callers retry) instead of a 500 (a bug).
import { HttpAgentError } from '../../src/shared/errors.js';

/** ioredis gives up on a command while Redis is away (maxRetriesPerRequest), closed, loading or failing over. */
export function isRedisUnavailable(err: Error): boolean {
  return (
    err.name === 'MaxRetriesPerRequestError' ||
    /Connection is closed|Stream isn't writeable|ECONNREFUSED|LOADING|CLUSTERDOWN|TRYAGAIN|Command timed out/.test(err.message)
  );
}

/**
 * Redis at maxmemory with noeviction refuses commands that grow memory, inside a script too ("OOM command
 * not allowed when used memory > 'maxmemory'"). A script is refused at its first such command, before it
 * wrote anything, so the request changed nothing and may be retried once memory is freed.
 */
export function isRedisOutOfMemory(err: Error): boolean {
  return /\bOOM command not allowed\b/.test(err.message);
}

/** The controller's classifier for the kit's error handler. */
export function classifyRedisFailure(err: Error): HttpAgentError | undefined {
  if (isRedisOutOfMemory(err)) {
    return new HttpAgentError('REDIS_OOM', 'Redis is out of memory and refuses writes; nothing was written; retry shortly', { cause: err, retryAfterSec: 5 });
  }
  if (!isRedisUnavailable(err)) return undefined;
  return new HttpAgentError('REDIS_UNAVAILABLE', 'the controller cannot reach Redis; retry shortly', { cause: err, retryAfterSec: 1 });
}
