// The agent API (bearer agent token): register, long-poll claim, heartbeat, and the per-job calls,
// each lease-protected one fenced by epoch (see docs/agent-api.md).
import type { FastifyInstance, FastifyReply } from 'fastify';
import { z } from 'zod';
import { parseOr400 } from '../../../src/shared/http/validate.js';
import {
  agentApiPaths,
  claimRequestSchema,
  completeBatchRequestSchema,
  completeRequestSchema,
  heartbeatRequestSchema,
  logAppendQuerySchema,
  registerRequestSchema,
  renewRequestSchema,
  stepUpdateSchema,
  type ClaimedJob,
} from '../../../src/shared/protocol/agent-api.js';
import { jobIdSchema } from '../../../src/shared/protocol/ids.js';
import type { EventLog } from '../event-stream.js';
import type { LeaseStore } from '../lease-store.js';
import type { Notifier } from '../wake-hub.js';

const jobParams = z.strictObject({ id: jobIdSchema });

export interface AgentRouteDeps {
  leases: LeaseStore;
  notifier: Notifier;
  events: EventLog;
  longPollMs: number;
  logChunkMaxBytes: number;
}

/** Aborts when the client goes away before its answer was written. */
function clientGone(reply: FastifyReply): AbortSignal {
  const ac = new AbortController();
  reply.raw.once('close', () => {
    if (!reply.raw.writableFinished) ac.abort();
  });
  return ac.signal;
}

export function agentRoutes(app: FastifyInstance, deps: AgentRouteDeps): void {
  const { leases, notifier } = deps;
  // Labels per agent, learnt from claims, so wake-ups for label selectors go to agents that can use them.
  const labelCache = new Map<string, Record<string, string>>();

  /** Claims at once; if nothing matches and the agent may wait, sleeps until a wake-up or the deadline. */
  const claimWithWait = async (agentId: string, max: number, claimId: string, waitMs: number, gone: AbortSignal): Promise<ClaimedJob[]> => {
    const deadline = Date.now() + waitMs;
    // Registered before the first try, so a job announced while that try runs is not missed.
    const waiter = waitMs > 0 ? notifier.register(agentId, labelCache.get(agentId) ?? null) : undefined;
    try {
      // The first try is the agent speaking; later ones run for it after a wake-up, and the script
      // refuses them (silent) if the agent stopped heartbeating meanwhile (SIGSTOP, frozen VM, cut off).
      for (let woken = false; ; woken = true) {
        const { jobs, labels, silent } = await leases.claim(agentId, max, claimId, woken);
        if (labelCache.size > 100_000) labelCache.clear();
        labelCache.set(agentId, labels);
        if (silent) {
          // The work this wake announced goes to another waiter; this long-poll ends empty.
          waiter?.handOff();
          return [];
        }
        if (waiter) waiter.labels = labels;
        if (jobs.length > 0 || !waiter) return jobs;
        const left = deadline - Date.now();
        // A client that left gets nothing popped for it: its jobs stay queued for someone else.
        if (left <= 0 || gone.aborted || !(await waiter.wait(left, gone))) return [];
      }
    } finally {
      waiter?.dispose();
    }
  };

  app.post(agentApiPaths.register, async (req) => {
    const body = parseOr400(registerRequestSchema, req.body, 'body');
    const { leaseMs, serverTime } = await leases.register(body);
    labelCache.set(body.agentId, body.labels);
    await deps.events.append({ type: 'agent', id: body.agentId, state: 'online', running: 0, lastSeenAt: serverTime });
    req.log.info({ agentId: body.agentId, hostname: body.hostname, version: body.version }, 'agent registered');
    return { agentId: body.agentId, leaseMs, longPollMs: deps.longPollMs, logChunkMaxBytes: deps.logChunkMaxBytes, serverTime };
  });

  app.post(agentApiPaths.claim, async (req, reply) => {
    const body = parseOr400(claimRequestSchema, req.body, 'body');
    const waitMs = Math.min(body.waitMs ?? deps.longPollMs, deps.longPollMs);
    return { jobs: await claimWithWait(body.agentId, body.max, body.claimId, waitMs, clientGone(reply)) };
  });

  app.post(agentApiPaths.heartbeat, async (req) => leases.heartbeat(parseOr400(heartbeatRequestSchema, req.body, 'body')));

  app.post(agentApiPaths.renew.route, async (req) => {
    const { id } = parseOr400(jobParams, req.params, 'params');
    const body = parseOr400(renewRequestSchema, req.body, 'body');
    return { status: await leases.renew(id, body.epoch) };
  });

  app.post(agentApiPaths.step.route, async (req) => {
    const { id } = parseOr400(jobParams, req.params, 'params');
    return leases.step(id, parseOr400(stepUpdateSchema, req.body, 'body'));
  });

  app.post(agentApiPaths.complete.route, async (req) => {
    const { id } = parseOr400(jobParams, req.params, 'params');
    const body = parseOr400(completeRequestSchema, req.body, 'body');
    // Complete-and-claim: the next jobs ride on the same round trip and the same script (never waits;
    // a long-poll is a claim call).
    const { duplicate, jobs } = await leases.complete(id, body);
    return { accepted: true, ...(duplicate ? { duplicate: true } : {}), ...(body.claim ? { jobs: jobs ?? [] } : {}) };
  });

  // Batched complete: each result answered with its own status, the claim made whatever they are.
  app.post(agentApiPaths.completeBatch, async (req) => {
    const body = parseOr400(completeBatchRequestSchema, req.body, 'body');
    const { results, jobs } = await leases.completeMany(body.results, body.claim, 'all');
    return { results, ...(body.claim ? { jobs: jobs ?? [] } : {}) };
  });

  // The log append takes raw bytes of any content type, so it lives in its own scope with its own parser.
  void app.register(async (scope) => {
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: deps.logChunkMaxBytes }, (_req, body, done) => done(null, body));
    scope.post(agentApiPaths.log.route, async (req) => {
      const { id } = parseOr400(jobParams, req.params, 'params');
      const q = parseOr400(logAppendQuerySchema, req.query, 'query');
      const bytes = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
      const r = await leases.appendLog(id, q.epoch, q.offset, bytes);
      return { offset: r.offset, ...(r.cancel ? { cancel: true } : {}) };
    });
  });
}
