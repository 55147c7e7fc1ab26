// A non-2xx reply from the controller as a typed error, read the same way by every client of it (the
// agent's undici transport, the console, and the monitor's node:http caller). Kept apart from the
// transport so the monitor can use it without loading undici.
import { HttpAgentError, receivedCode } from '../errors.js';
import { parseRetryAfter, type RetryAfterHint } from '../retry.js';

/** A non-2xx reply from the controller, carrying its `{"error":{"code","message",...}}` body and Retry-After. */
export class ControllerError extends HttpAgentError implements RetryAfterHint {
  override name = 'ControllerError';
  /** The wait the reply asked for (Retry-After on a 429 or 503), from when it came. */
  readonly retryAfterMs: number | undefined;
  constructor(code: string, message: string, statusCode: number, details?: Record<string, unknown>, retryAfterMs?: number) {
    super(receivedCode(code), message, { statusCode, details, retryable: statusCode >= 500 || statusCode === 429 });
    this.retryAfterMs = retryAfterMs;
  }
}

/** The error for a reply: its body's code, message and other fields when it is ours, else HTTP_<status>. */
export function controllerErrorFrom(statusCode: number, body: string, retryAfter: string | string[] | undefined, what: string): ControllerError {
  let code = `HTTP_${statusCode}`;
  let message = `${what} answered ${statusCode}`;
  let details: Record<string, unknown> | undefined;
  try {
    const parsed = JSON.parse(body) as { error?: Record<string, unknown> };
    if (parsed.error && typeof parsed.error.code === 'string') {
      const { code: c, message: m, ...rest } = parsed.error;
      code = c as string;
      if (typeof m === 'string') message = m;
      details = rest;
    }
  } catch {
    // not JSON (a proxy's error page): keep the status-derived code
  }
  return new ControllerError(code, message, statusCode, details, parseRetryAfter(retryAfter));
}
