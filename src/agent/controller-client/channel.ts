// The agent channel's client side: one WebSocket to the controller (GET /v1/agent/channel, agent-api.ts)
// carrying the claims and completes every job makes, so they cost a message each instead of an HTTP
// request, and a waiting claim's jobs arrive the moment they are queued. It is only a faster road: while
// it is not open (not yet, lost, refused by an older controller or a proxy) the same calls go over HTTP,
// and a call whose channel closes under it fails as an unreachable controller would, so the callers'
// retries (same claimId, same epoch) recover it the same way.
import { WebSocket } from 'undici';
import type { z } from 'zod';
import { UpstreamError } from '../../shared/errors.js';
import { BadReplyError, type ControllerHttp, type RequestOptions } from '../../shared/client/controller-http.js';
import { controllerErrorFrom } from '../../shared/client/controller-error.js';
import { backoffMs } from '../../shared/retry.js';
import type { Logger } from '../../shared/log.js';
import { agentApiPaths, CHANNEL_MAX_IN_FLIGHT, channelCall, channelReplySchema, type ChannelReply } from '../../shared/protocol/agent-api.js';

export interface AgentChannelOptions {
  controllerUrl: string;
  /** The agent's credential, asked at each connect (the agent may enroll after the channel exists). */
  credential: () => string;
  logger: Logger;
  /** After an upgrade that never opened (an older controller, a proxy), HTTP alone this long. */
  refusedRetryMs?: number;
  /** Told when the channel opens or closes (the agent's metrics). */
  onOpen?: (open: boolean) => void;
}

export interface AgentChannel {
  /** Whether calls go over the channel now. */
  readonly open: boolean;
  /**
   * The call over the channel, or undefined when the channel is not open (the caller uses HTTP).
   * Rejects with the reply's ControllerError, or CONTROLLER_UNREACHABLE when the channel closes first.
   */
  request(path: string, body: unknown, timeoutMs: number): Promise<ChannelReply> | undefined;
  close(): void;
}

/** Between tries after an open channel was lost: the controller restarting, a network blip. */
const RECONNECT = { baseMs: 200, capMs: 10_000 };
/** Quick tries after a loss (about 25 s in all) before the channel counts as refused. */
const RECONNECT_TRIES = 8;

export function createAgentChannel(opts: AgentChannelOptions): AgentChannel {
  const base = new URL(opts.controllerUrl);
  const url = `${base.protocol === 'https:' ? 'wss:' : 'ws:'}//${base.host}${base.pathname.replace(/\/$/, '')}${agentApiPaths.channel}`;
  const refusedRetryMs = opts.refusedRetryMs ?? 60_000;
  const pending = new Map<number, { resolve: (r: ChannelReply) => void; reject: (err: Error) => void; timer: NodeJS.Timeout }>();
  let ws: WebSocket | undefined;
  let isOpen = false;
  let closed = false;
  let nextRid = 0;
  let failures = 0;
  let everOpened = false;
  let retry: NodeJS.Timeout | undefined;
  let saidRefused = false;

  const failAll = (why: string) => {
    for (const [rid, p] of pending) {
      clearTimeout(p.timer);
      pending.delete(rid);
      p.reject(new UpstreamError('CONTROLLER_UNREACHABLE', `controller ${base.origin} unreachable: the agent channel ${why}`));
    }
  };

  /** Opens the channel unless it is open, opening, or waiting to try again. */
  const connect = () => {
    if (closed || ws || retry) return;
    let authorization: string;
    try {
      authorization = `Bearer ${opts.credential()}`;
    } catch {
      return; // not enrolled yet: the next call tries again
    }
    let opened = false;
    const socket = new WebSocket(url, { headers: { authorization } });
    ws = socket;
    socket.addEventListener('open', () => {
      opened = true;
      isOpen = true;
      failures = 0;
      opts.onOpen?.(true);
      if (saidRefused) opts.logger.info('agent channel open again: claims and completes go over it');
      saidRefused = false;
      opts.logger.debug('agent channel open');
    });
    socket.addEventListener('message', (ev) => {
      let reply: ChannelReply;
      try {
        reply = channelReplySchema.parse(JSON.parse(String(ev.data)));
      } catch (err) {
        // Not our protocol: give up on this connection, the calls on it retry over HTTP.
        opts.logger.warn({ err: (err as Error).message }, 'agent channel sent a message that is not a reply; closing it');
        socket.close();
        return;
      }
      const p = pending.get(reply.rid);
      if (!p) return; // timed out meanwhile: the caller has moved on
      pending.delete(reply.rid);
      clearTimeout(p.timer);
      p.resolve(reply);
    });
    socket.addEventListener('close', () => {
      if (ws !== socket) return;
      ws = undefined;
      if (isOpen) opts.onOpen?.(false);
      isOpen = false;
      failAll('closed');
      if (closed) return;
      // A channel that worked before is back soon (a controller restart, a blip), backing off a few
      // times. One that never opened, or keeps failing, is refused here (an older controller, the
      // channel off, a proxy without WebSockets) or the controller is away: HTTP for a while.
      if (opened) everOpened = true;
      let delay: number;
      if (everOpened && failures < RECONNECT_TRIES) delay = backoffMs(failures, RECONNECT);
      else {
        if (!saidRefused) opts.logger.info({ retryInSec: Math.round(refusedRetryMs / 1000) }, 'agent channel refused or unreachable; claims and completes go over HTTP');
        saidRefused = true;
        delay = refusedRetryMs;
      }
      failures++;
      retry = setTimeout(() => {
        retry = undefined;
        connect();
      }, delay);
      retry.unref();
    });
    // 'error' is always followed by 'close', which does the work.
    socket.addEventListener('error', () => undefined);
  };

  return {
    get open() {
      return isOpen;
    },
    request(path, body, timeoutMs) {
      const socket = ws;
      if (!isOpen || !socket || pending.size >= CHANNEL_MAX_IN_FLIGHT) {
        // This call goes by HTTP; the first one opens the channel for the next.
        connect();
        return undefined;
      }
      const rid = nextRid++;
      return new Promise<ChannelReply>((resolve, reject) => {
        const timer = setTimeout(() => {
          pending.delete(rid);
          reject(new UpstreamError('CONTROLLER_UNREACHABLE', `controller ${base.origin} did not answer ${path} on the agent channel in ${timeoutMs} ms`));
          // A controller that lets a call run out (frozen, cut off) holds the others too: drop the channel,
          // the next calls go over HTTP while it is opened again.
          socket.close();
        }, timeoutMs);
        pending.set(rid, { resolve, reject, timer });
        socket.send(JSON.stringify({ rid, path, body }));
      });
    },
    close() {
      closed = true;
      if (retry) clearTimeout(retry);
      failAll('was closed by the agent');
      ws?.close(1000);
      ws = undefined;
      isOpen = false;
    },
  };
}

/**
 * `http` with the channel's paths sent over `channel` while it is open: the reply is validated by the
 * same schema and a refusal becomes the same ControllerError, so callers cannot tell the roads apart.
 */
export function overChannel(http: ControllerHttp, channel: AgentChannel, onCall?: (transport: 'channel' | 'http') => void): ControllerHttp {
  return {
    ...http,
    async call<S extends z.ZodType>(path: string, schema: S, o: RequestOptions = {}): Promise<z.infer<S>> {
      if (!channelCall(path)) return http.call(path, schema, o);
      const sent = o.json !== undefined && !o.signal ? channel.request(path, o.json, o.timeoutMs ?? 30_000) : undefined;
      onCall?.(sent ? 'channel' : 'http');
      if (!sent) return http.call(path, schema, o);
      const reply = await sent;
      if (reply.status < 200 || reply.status >= 300) {
        const retryAfter = reply.retryAfter === undefined ? undefined : String(reply.retryAfter);
        throw controllerErrorFrom(reply.status, JSON.stringify(reply.body), retryAfter, `controller ${path}`);
      }
      const parsed = schema.safeParse(reply.body);
      if (!parsed.success) throw new BadReplyError(path, parsed.error);
      return parsed.data;
    },
  };
}
