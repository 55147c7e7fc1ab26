// The agent channel (GET /v1/agent/channel, upgraded to a WebSocket): an agent's claims and completes
// as messages on one connection it keeps open, so a job costs no HTTP request to parse, route and
// answer, and a waiting claim's jobs are pushed down that connection the moment they are queued. Each
// message is one of the HTTP calls (agent-api.ts channelCall) and is answered as that route would:
// same validation, same checks of the credential and the agent ids, same errors, same calls
// (AgentCalls). The upgrade itself passes the auth hooks like any agent API request.
import websocket from '@fastify/websocket';
import type { FastifyInstance } from 'fastify';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { WebSocket } from 'ws';
import { HttpAgentError, NotFoundError, OverloadedError, ValidationError } from '../../../src/shared/errors.js';
import { toHttpAgentError } from '../../../src/shared/http/error-handler.js';
import { parseOr400 } from '../../../src/shared/http/validate.js';
import { agentApiPaths, CHANNEL_MAX_IN_FLIGHT, channelCall, channelRequestSchema, type ChannelReply } from '../../../src/shared/protocol/agent-api.js';
import { jobIdSchema } from '../../../src/shared/protocol/ids.js';
import type { Logger } from '../../../src/shared/log.js';
import type { CredentialCheck } from '../credential-check.js';
import type { Caller } from '../lease-store.js';
import { classifyRedisFailure } from '../redis-unavailable.js';
import type { AgentCalls } from './agent-routes.js';
import { assertOwnAgentIds, verifiedCaller } from './auth-hooks.js';

export interface AgentChannelOptions {
  calls: AgentCalls;
  /** Each message's credential check (revocations reach an open channel at its next message). */
  credentials: CredentialCheck;
  /** Largest message, as the largest HTTP body. */
  maxMessageBytes: number;
  /** How often every channel is pinged; one whose peer did not answer the last ping is closed. */
  pingEveryMs: number;
  logger: Logger;
  /** Benchmarks only (auth-hooks.ts skipAgentChecks): the caller the upgrade proved, never checked again. */
  skipAgentChecks?: boolean;
}

/** A bad percent-encoding is left as is, for the id's schema to refuse (400), not thrown as a URIError (500). */
function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

/** Registers the channel's route; answers how many channels are open now (Controller.openChannels). */
export function agentChannel(app: FastifyInstance, opts: AgentChannelOptions): { readonly open: number } {
  // Per channel only what it needs: thousands of agents each hold one (bench many-agents: 10,000).
  const sockets = new Map<WebSocket, { alive: boolean }>();
  // One sweep pings every channel; one that did not answer the last ping is closed.
  let sweep: NodeJS.Timeout | undefined;
  const startSweep = () => {
    sweep ??= setInterval(() => {
      for (const [s, state] of sockets) {
        if (!state.alive) s.terminate();
        else {
          state.alive = false;
          s.ping();
        }
      }
    }, opts.pingEveryMs).unref();
  };

  const dispatch = (caller: Caller, path: string, body: unknown, gone: () => AbortSignal): Promise<unknown> => {
    const call = channelCall(path);
    if (call?.kind === 'claim') return opts.calls.claim(caller, body, gone());
    if (call?.kind === 'completeBatch') return opts.calls.completeBatch(caller, body);
    if (call?.kind === 'complete') return opts.calls.complete(caller, parseOr400(jobIdSchema, safeDecode(call.id), 'params', ['id']), body);
    throw new NotFoundError('NOT_FOUND', `the agent channel carries claims and completes only, not ${path}`);
  };

  void app.register(websocket, {
    options: { maxPayload: opts.maxMessageBytes },
    // Shutdown: index.ts's preClose hook releases the waiting claims; a reply cut off by this close is
    // recovered as any lost reply is (the agent retries the same claimId, over HTTP or a new channel).
    preClose(done) {
      if (sweep) clearInterval(sweep);
      for (const s of sockets.keys()) s.close(1001, 'controller shutting down');
      // A peer that does not answer the close handshake (frozen, cut off) does not hold the shutdown.
      const cut = setTimeout(() => {
        for (const s of sockets.keys()) s.terminate();
      }, 1000);
      this.websocketServer.close(() => {
        clearTimeout(cut);
        done();
      });
    },
  });
  // An upgrade refused before its route (401 in the auth hook, 404) is answered over the raw socket the
  // websocket plugin took from the HTTP server, which nothing else would close: without this a refused
  // peer held a socket, and the controller's shutdown waited on it.
  app.addHook('onResponse', (req, _reply, done) => {
    if (req.headers.upgrade?.toLowerCase() === 'websocket') req.raw.socket?.destroy();
    done();
  });
  // The upgrade's HTTP response, to let go of once the channel is open (wsHandler).
  const upgrades = new WeakMap<IncomingMessage, ServerResponse>();
  void app.register(async (scope) => {
    scope.route({
      method: 'GET',
      url: agentApiPaths.channel,
      onRequest: (req, reply, done) => {
        upgrades.set(req.raw, reply.raw);
        done();
      },
      // A plain GET (no upgrade) gets a coded refusal like any other, not the plugin's bare 404.
      handler: async () => {
        throw new HttpAgentError('UPGRADE_REQUIRED', `${agentApiPaths.channel} is a WebSocket: ask for the upgrade (Upgrade: websocket)`);
      },
      wsHandler: (socket, req) => {
        const upgraded = verifiedCaller(req);
        const authorization = req.headers.authorization;
        const log = () => opts.logger.child({ agentId: upgraded.agentId, component: 'agent-channel' });
        // The HTTP idle timeout ends requests; this connection lives by its pings instead.
        req.raw.socket.setTimeout(0);
        // Let go of the upgrade request for the channel's life: the plugin's response stays assigned to
        // the socket, and its error listener closes over the fastify request and reply; together they
        // held every header of the upgrade, about 2 KB per agent (bench many-agents, 10,000 channels).
        upgrades.get(req.raw)?.detachSocket(req.raw.socket);
        socket.removeAllListeners('error');
        socket.on('error', (err) => {
          if (opts.logger.isLevelEnabled('debug')) log().debug({ err }, 'channel socket failed');
          socket.terminate();
        });
        const state = { alive: true };
        sockets.set(socket, state);
        startSweep();
        // Made on the first claim: most of a channel's life is one waiting claim, but not all channels claim.
        let closed: AbortController | undefined;
        const gone = () => (closed ??= new AbortController()).signal;
        let inFlight = 0;
        socket.on('pong', () => (state.alive = true));
        socket.on('close', () => {
          sockets.delete(socket);
          // A waiting claim ends with nothing popped for a peer that left (as clientGone does over HTTP).
          closed?.abort();
        });

        const send = (reply: ChannelReply) => {
          if (socket.readyState === socket.OPEN) socket.send(JSON.stringify(reply));
        };

        socket.on('message', (data, isBinary) => {
          void (async () => {
            let rid = -1;
            try {
              if (isBinary) throw new ValidationError('the agent channel takes JSON text messages', []);
              let parsed: unknown;
              try {
                parsed = JSON.parse(data.toString());
              } catch {
                throw new ValidationError('a channel message is not valid JSON', []);
              }
              const msg = parseOr400(channelRequestSchema, parsed, 'body');
              rid = msg.rid;
              if (inFlight >= CHANNEL_MAX_IN_FLIGHT) throw new OverloadedError(`more than ${CHANNEL_MAX_IN_FLIGHT} requests in flight on one channel`);
              inFlight++;
              try {
                // Every message is checked as an HTTP request would be: a credential revoked since the
                // upgrade is refused here (the claim and complete scripts check it again in Redis).
                const caller = opts.skipAgentChecks ? upgraded : await opts.credentials.verify(authorization);
                if (!opts.skipAgentChecks) assertOwnAgentIds(caller.agentId, msg.body);
                send({ rid, status: 200, body: await dispatch(caller, msg.path, msg.body, gone) });
              } finally {
                inFlight--;
              }
            } catch (err) {
              const e = toHttpAgentError(err, classifyRedisFailure);
              if (e.statusCode >= 500 && e.statusCode !== 503) log().error({ err }, 'channel request failed');
              else if (opts.logger.isLevelEnabled('debug')) log().debug({ code: e.code }, 'channel request refused');
              send({ rid, status: e.statusCode, body: e.toJSON(), ...(e.retryAfterSec !== undefined ? { retryAfter: e.retryAfterSec } : {}) });
              // A message that is not a request at all: the peer does not speak this protocol.
              if (rid < 0) socket.close(1008, 'not a channel request');
            }
          })();
        });
      },
    });
  });

  return {
    get open() {
      return sockets.size;
    },
  };
}
