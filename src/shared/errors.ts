// Typed errors with stable codes: tests and clients match on `code`, never on message text. A code's
// HTTP status and retryability come from the registry (error-codes.ts), not from the throw site.
import { errorSpec, type CodeWithStatus, type ErrorCode } from './error-codes.js';

export { EXIT, errorCodes, exitStatusFor, isErrorCode, type CodeWithStatus, type ErrorCode } from './error-codes.js';

declare const received: unique symbol;
/**
 * A code read from another process's error reply. It is that process's to choose (a newer controller
 * may send one this version does not register, a proxy's page yields `HTTP_<status>`), so it is kept
 * as received, with the status it came with, and marked so it cannot pass for a code raised here.
 */
export type ReceivedCode = string & { readonly [received]: true };

export function receivedCode(code: string): ReceivedCode {
  return code as ReceivedCode;
}

export interface HttpAgentErrorOptions {
  cause?: unknown;
  /** Spread into the reply's `error` object next to code and message (e.g. `issues`, `expected`). */
  details?: Record<string, unknown> | undefined;
  /** Sent as the Retry-After header (seconds). */
  retryAfterSec?: number;
}

export interface ReceivedErrorOptions extends HttpAgentErrorOptions {
  statusCode: number;
  retryable: boolean;
}

export class HttpAgentError extends Error {
  override name = 'HttpAgentError';
  readonly code: ErrorCode | ReceivedCode;
  readonly statusCode: number;
  readonly retryable: boolean;
  readonly details: Record<string, unknown> | undefined;
  readonly retryAfterSec: number | undefined;

  constructor(code: ErrorCode, message: string, opts?: HttpAgentErrorOptions);
  constructor(code: ReceivedCode, message: string, opts: ReceivedErrorOptions);
  constructor(code: ErrorCode | ReceivedCode, message: string, opts: HttpAgentErrorOptions & Partial<ReceivedErrorOptions> = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.code = code;
    // Only a received code carries its own status; a registered one always has the registry's.
    const spec = 'statusCode' in opts ? undefined : errorSpec(code as ErrorCode);
    // Codes that never travel over HTTP (CONFIG_INVALID...) answer 500 if one ever reaches a reply.
    this.statusCode = opts.statusCode ?? spec?.http ?? 500;
    this.retryable = opts.retryable ?? spec?.retryable ?? false;
    this.details = opts.details;
    this.retryAfterSec = opts.retryAfterSec;
  }

  toJSON(): { error: { code: string; message: string } & Record<string, unknown> } {
    return { error: { code: this.code, message: this.message, ...(this.details ?? {}) } };
  }
}

/** A configuration value is missing, malformed or unknown; start-up stops with this message (exit 2). */
export class ConfigError extends HttpAgentError {
  override name = 'ConfigError';
  constructor(message: string, opts: HttpAgentErrorOptions = {}) {
    super('CONFIG_INVALID', message, opts);
  }
}

/** Bad command-line arguments, or a setting a console command needs is unset (exit 2). */
export class UsageError extends HttpAgentError {
  override name = 'UsageError';
  constructor(message: string) {
    super('USAGE', message);
  }
}

/** One field's problem in a 400 BAD_REQUEST: the reply carries `issues: ValidationIssue[]`. */
export interface ValidationIssue {
  /** Dotted path inside the part validated (body, query or params): `steps.0.task`; '' for the whole. */
  path: string;
  /** zod's issue code (`invalid_type`, `unrecognized_keys`, `too_big`...) or `custom`. */
  code: string;
  message: string;
}

/** A request body, query or path parameter failed validation: 400 BAD_REQUEST with `issues`. */
export class ValidationError extends HttpAgentError {
  override name = 'ValidationError';
  readonly issues: ValidationIssue[];
  constructor(message: string, issues: ValidationIssue[] = [], opts: Omit<HttpAgentErrorOptions, 'details'> = {}) {
    super('BAD_REQUEST', message, { ...opts, details: { issues } });
    this.issues = issues;
  }
}

export class UnauthorizedError extends HttpAgentError {
  override name = 'UnauthorizedError';
  constructor(message = 'missing or invalid bearer token') {
    super('UNAUTHORIZED', message);
  }
}

export class NotFoundError extends HttpAgentError {
  override name = 'NotFoundError';
  constructor(code: CodeWithStatus<404>, message: string, details?: Record<string, unknown>) {
    super(code, message, { details });
  }
}

/** A lease-protected call carried an epoch that is no longer current: the caller must stop that work. */
export class StaleEpochError extends HttpAgentError {
  override name = 'StaleEpochError';
  constructor(message = 'the lease for this job has moved on; stop working on it', details?: Record<string, unknown>) {
    super('STALE_EPOCH', message, { details });
  }
}

/** A pool or queue is full: 429 with Retry-After `retryAfterSec`. */
export class OverloadedError extends HttpAgentError {
  override name = 'OverloadedError';
  constructor(message: string, retryAfterSec = 1) {
    super('OVERLOADED', message, { retryAfterSec });
  }
}

/** Something this process depends on (controller, a JaCoCo agent, a checked URL) failed or is unreachable. */
export class UpstreamError extends HttpAgentError {
  override name = 'UpstreamError';
  constructor(code: CodeWithStatus<502>, message: string, opts: HttpAgentErrorOptions = {}) {
    super(code, message, opts);
  }
}

export function isHttpAgentError(err: unknown): err is HttpAgentError {
  return err instanceof HttpAgentError;
}
