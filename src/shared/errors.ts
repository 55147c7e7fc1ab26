// Typed errors with stable codes: tests and clients match on `code`, never on message text.

export interface HttpAgentErrorOptions {
  cause?: unknown;
  statusCode?: number;
  retryable?: boolean;
  details?: Record<string, unknown>;
}

export class HttpAgentError extends Error {
  override name = 'HttpAgentError';
  readonly code: string;
  readonly statusCode: number;
  readonly retryable: boolean;
  readonly details: Record<string, unknown> | undefined;

  constructor(code: string, message: string, opts: HttpAgentErrorOptions = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.code = code;
    this.statusCode = opts.statusCode ?? 500;
    this.retryable = opts.retryable ?? false;
    this.details = opts.details;
  }

  toJSON(): { error: { code: string; message: string } & Record<string, unknown> } {
    return { error: { code: this.code, message: this.message, ...(this.details ?? {}) } };
  }
}

/** A configuration value is missing, malformed or unknown; start-up stops with this message. */
export class ConfigError extends HttpAgentError {
  override name = 'ConfigError';
  constructor(message: string, opts: HttpAgentErrorOptions = {}) {
    super('CONFIG_INVALID', message, { ...opts, statusCode: 500 });
  }
}

/** A request body, query or parameter failed validation. */
export class ValidationError extends HttpAgentError {
  override name = 'ValidationError';
  constructor(message: string, opts: HttpAgentErrorOptions = {}) {
    super('BAD_REQUEST', message, { statusCode: 400, ...opts });
  }
}

export class UnauthorizedError extends HttpAgentError {
  override name = 'UnauthorizedError';
  constructor(message = 'missing or invalid bearer token') {
    super('UNAUTHORIZED', message, { statusCode: 401 });
  }
}

export class NotFoundError extends HttpAgentError {
  override name = 'NotFoundError';
  constructor(code: string, message: string, details?: Record<string, unknown>) {
    super(code, message, { statusCode: 404, details });
  }
}

/** A lease-protected call carried an epoch that is no longer current: the caller must stop that work. */
export class StaleEpochError extends HttpAgentError {
  override name = 'StaleEpochError';
  constructor(message = 'the lease for this job has moved on; stop working on it', details?: Record<string, unknown>) {
    super('STALE_EPOCH', message, { statusCode: 409, details });
  }
}

/** A pool or queue is full: the caller should retry after `retryAfterSec`. */
export class OverloadedError extends HttpAgentError {
  override name = 'OverloadedError';
  readonly retryAfterSec: number;
  constructor(message: string, retryAfterSec = 1) {
    super('OVERLOADED', message, { statusCode: 429, retryable: true });
    this.retryAfterSec = retryAfterSec;
  }
}

/** Something this process depends on (controller, Redis, a JaCoCo agent) failed or is unreachable. */
export class UpstreamError extends HttpAgentError {
  override name = 'UpstreamError';
  constructor(code: string, message: string, opts: HttpAgentErrorOptions = {}) {
    super(code, message, { statusCode: 502, retryable: true, ...opts });
  }
}

export function isHttpAgentError(err: unknown): err is HttpAgentError {
  return err instanceof HttpAgentError;
}
