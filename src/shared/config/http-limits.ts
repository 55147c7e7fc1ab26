// The settings that bound what a peer can hold on an HTTP server (agent port, controller): the same
// keys on both, each server with defaults of its own. Enforced by src/shared/http/connection-guard.ts.
import { intField } from './fields.js';

export interface HttpLimitDefaults {
  keepAliveTimeoutMs: number;
  maxConnections: number;
}

/** Spread into a process's config schema. */
export function httpLimitFields(defaults: HttpLimitDefaults) {
  return {
    /** Time from a request's first byte until its headers are complete; capped at httpRequestTimeoutMs. */
    httpHeadersTimeoutMs: intField(1000, 600_000).default(10_000),
    /** Time from a request's first byte until its body is complete (the handler's time is not counted). */
    httpRequestTimeoutMs: intField(1000, 3_600_000).default(30_000),
    /**
     * Longest silence on a socket while a request arrives, while a reply is written, and while a handler
     * works (a route that legitimately takes longer, like the controller's long-poll claim, has its own bound).
     */
    httpIdleTimeoutMs: intField(1000, 3_600_000).default(60_000),
    /** How long a connection may sit idle between requests. */
    httpKeepAliveTimeoutMs: intField(1000, 600_000).default(defaults.keepAliveTimeoutMs),
    /** Open connections at most; one more is closed as it is accepted (and counted in a log line per minute). */
    httpMaxConnections: intField(1, 1_000_000).default(defaults.maxConnections),
  };
}

export interface HttpLimitSettings {
  httpHeadersTimeoutMs: number;
  httpRequestTimeoutMs: number;
  httpIdleTimeoutMs: number;
  httpKeepAliveTimeoutMs: number;
  httpMaxConnections: number;
}
