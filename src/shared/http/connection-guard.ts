// What a peer can hold on an HTTP server, and for how long, on every server of the project (agent port,
// controller): a bounded time to send headers and the whole request, a bounded silence while a request
// arrives, a handler works or a reply is written, a bounded keep-alive, a cap on open connections, and a
// reply sent before the request was read ends the connection instead of reading (and discarding) the rest.
import type { ServerOptions } from 'node:http';
import type { Socket } from 'node:net';
import type { FastifyInstance, FastifyReply } from 'fastify';
import type { HttpLimitSettings } from '../config/http-limits.js';
import { HttpAgentError } from '../errors.js';
import type { Logger } from '../log.js';
import { createRefusalTally } from './refusal-tally.js';

declare module 'fastify' {
  interface FastifyContextConfig {
    /**
     * How long this route's handler may stay silent before it replies, when that is longer than the
     * server's idle timeout (a long-poll); 0 when the handler bounds itself (a task with its own timeout).
     */
    handlerTimeoutMs?: number;
  }
}

export interface ConnectionGuard {
  /** Spread into the options fastify is created with. */
  options: {
    connectionTimeout: number;
    keepAliveTimeout: number;
    requestTimeout: number;
    http: ServerOptions;
    clientErrorHandler: (err: NodeJS.ErrnoException, socket: Socket) => void;
  };
  /** Adds the hooks and the connection cap to the app built with `options`. */
  install(app: FastifyInstance): void;
}

/** Node checks header and request deadlines on a timer; this often, so a deadline is late by at most this. */
function checkingInterval(headersTimeoutMs: number): number {
  return Math.max(100, Math.min(1000, Math.floor(headersTimeoutMs / 4)));
}

export function createConnectionGuard(limits: HttpLimitSettings, logger: Logger): ConnectionGuard {
  const tally = createRefusalTally(logger, 'refused hostile or overloading HTTP clients');
  // Node refuses to start a server whose header deadline is past its request deadline.
  const headersTimeout = Math.min(limits.httpHeadersTimeoutMs, limits.httpRequestTimeoutMs);

  function onClientError(err: NodeJS.ErrnoException, socket: Socket): void {
    // A reset connection has nobody left to answer.
    if (err.code === 'ECONNRESET' || socket.destroyed) return;
    const refusal =
      err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
        ? new HttpAgentError('REQUEST_TIMEOUT', 'the request did not arrive in time')
        : err.code === 'HPE_HEADER_OVERFLOW'
          ? new HttpAgentError('HEADERS_TOO_LARGE', 'the request headers are larger than the server takes')
          : new HttpAgentError('BAD_HTTP', 'the request is not HTTP/1.1 this server can parse');
    tally.note(refusal.code);
    // A reply already begun on this socket (a 401 while the body trickles) cannot be followed by another.
    const inFlight = (socket as Socket & { _httpMessage?: { headersSent?: boolean } })._httpMessage;
    if (socket.writable && !inFlight?.headersSent) {
      const body = JSON.stringify(refusal.toJSON());
      socket.write(
        `HTTP/1.1 ${refusal.statusCode} ${refusal.code}\r\nContent-Type: application/json; charset=utf-8\r\n` +
          `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
      );
    }
    socket.destroy();
  }

  return {
    options: {
      connectionTimeout: limits.httpIdleTimeoutMs,
      keepAliveTimeout: limits.httpKeepAliveTimeoutMs,
      requestTimeout: limits.httpRequestTimeoutMs,
      http: { headersTimeout, requestTimeout: limits.httpRequestTimeoutMs, connectionsCheckingInterval: checkingInterval(headersTimeout) },
      clientErrorHandler: onClientError,
    },
    install(app) {
      app.server.maxConnections = limits.httpMaxConnections;
      // Node closes a connection over the cap as it is accepted and says so only through this event.
      app.server.on('drop', () => tally.note('CONNECTION_CAP'));
      app.addHook('onClose', async () => tally.close());

      app.addHook('preHandler', (request, _reply, done) => {
        const ms = request.routeOptions.config.handlerTimeoutMs;
        if (ms !== undefined) request.raw.socket?.setTimeout(ms);
        done();
      });

      app.addHook('onSend', (request, reply, payload, done) => {
        // The reply is written under the idle timeout again, whatever the handler was allowed.
        if (request.routeOptions.config.handlerTimeoutMs !== undefined) request.raw.socket?.setTimeout(limits.httpIdleTimeoutMs);
        // Answered before the request was read (401 before the body, 413, 415): node would otherwise read
        // the rest to keep the connection, at whatever pace the peer sends it. With `Connection: close`
        // node ends the socket once the reply is flushed and destroys it, unread bytes and all.
        if (!request.raw.complete) void reply.header('connection', 'close');
        done(null, payload);
      });
    },
  };
}

/**
 * Awaits `work` during which the server is silent by design (a log follow waiting for new lines), with
 * the reply's socket exempt from the idle timeout meanwhile; writes before and after stay bounded by it.
 */
export async function awaitServerSilence<T>(reply: FastifyReply, work: Promise<T>): Promise<T> {
  const socket = reply.raw.socket;
  if (!socket) return work;
  const before = socket.timeout ?? 0;
  socket.setTimeout(0);
  try {
    return await work;
  } finally {
    if (!socket.destroyed) socket.setTimeout(before);
  }
}
