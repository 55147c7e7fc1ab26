// The agent API (bearer: the agent's own credential, checked by auth-hooks.ts): register, long-poll
// claim, heartbeat, the per-job calls, each lease-protected one fenced by epoch and by the lease's agent
// (see docs/agent-api.md), and the submit of a job for the caller itself.
import type { FastifyInstance, FastifyReply } from 'fastify';
import { z } from 'zod';
import { HttpAgentError, NotFoundError } from '../../../src/shared/errors.js';
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
import { parseScheduleKey } from '../../../src/shared/protocol/schedule-key.js';
import type { PortKey } from '../../../src/shared/protocol/identity.js';
import type { AgentDrain } from '../agent-drain.js';
import type { EventLog } from '../event-stream.js';
import type { JobStore } from '../job-store.js';
import type { Caller, LeaseStore } from '../lease-store.js';
import type { SubmitQuota } from '../submit-quota.js';
import type { Notifier } from '../wake-hub.js';
import { agentMismatch, callerOf, verifiedCaller } from './auth-hooks.js';
import { logBodies } from './log-body.js';
import { parseSubmission } from './platform-routes.js';

const jobParams = z.strictObject({ id: jobIdSchema });

export interface AgentRouteDeps {
  leases: LeaseStore;
  jobs: JobStore;
  notifier: Notifier;
  events: EventLog;
  drains: AgentDrain;
  longPollMs: number;
  logChunkMaxBytes: number;
  /** Published at register, so a rotated signing key reaches agents. */
  portKeys: PortKey[];
  submitQuota: SubmitQuota;
}

/** A job an agent queues for itself is small (a schedule's run), so a host cannot fill Redis through this door. */
export const AGENT_SUBMIT_MAX_BYTES = 64 * 1024;

/**
 * An agent's idempotency keys live apart from the platform's: a host cannot squat a key the platform will
 * use (its submit would come back as the host's job), nor learn the platform's jobs by guessing keys.
 */
export const agentIdempotencyKey = (agentId: string, key: string): string => `agent:${agentId}:${key}`;

/** Aborts when the client goes away before its answer was written. */
function clientGone(reply: FastifyReply): AbortSignal {
  const ac = new AbortController();
  reply.raw.once('close', () => {
    if (!reply.raw.writableFinished) ac.abort();
  });
  return ac.signal;
}

/**
 * The calls every job makes, as the HTTP routes and the agent channel (agent-channel.ts) both answer
 * them: the caller is the agent its credential proved, the body not yet validated.
 */
export interface AgentCalls {
  /** POST /v1/agent/claim: `gone` aborts when the caller left before its answer. */
  claim(caller: Caller, body: unknown, gone: AbortSignal): Promise<{ jobs: ClaimedJob[] }>;
  /** POST /v1/agent/jobs/:id/complete. */
  complete(caller: Caller, id: string, body: unknown): Promise<Record<string, unknown>>;
  /** POST /v1/agent/complete. */
  completeBatch(caller: Caller, body: unknown): Promise<Record<string, unknown>>;
  /** The agent's labels became known (register): wake-ups for label selectors reach it. */
  learnLabels(agentId: string, labels: Record<string, string>): void;
}

export function createAgentCalls(deps: Pick<AgentRouteDeps, 'leases' | 'notifier' | 'longPollMs'>): AgentCalls {
  const { leases, notifier } = deps;
  // Labels per agent, learnt from claims, so wake-ups for label selectors go to agents that can use them.
  const labelCache = new Map<string, Record<string, string>>();

  /** Claims at once; if nothing matches and the agent may wait, sleeps until a wake-up or the deadline. */
  const claimWithWait = async (caller: Caller, max: number, claimId: string, waitMs: number, gone: AbortSignal): Promise<ClaimedJob[]> => {
    const { agentId } = caller;
    const deadline = Date.now() + waitMs;
    // Registered before the first try, so a job announced while that try runs is not missed.
    const waiter = waitMs > 0 ? notifier.register(agentId, labelCache.get(agentId) ?? null) : undefined;
    try {
      // The first try is the agent speaking; later ones run for it after a wake-up, and the script
      // refuses them (silent) if the agent stopped heartbeating meanwhile (SIGSTOP, frozen VM, cut off).
      for (let woken = false; ; woken = true) {
        const { jobs, labels, silent, drained } = await leases.claim(caller, max, claimId, woken);
        if (labelCache.size > 100_000) labelCache.clear();
        labelCache.set(agentId, labels);
        if (silent) {
          // The work this wake announced goes to another waiter; this long-poll ends empty.
          waiter?.handOff();
          return [];
        }
        if (waiter) {
          waiter.labels = labels;
          waiter.drained = drained === true;
          // From now on an enqueue on this controller may make this claim itself (enqueue-claim-8.lua).
          waiter.claim ??= leases.waitingClaim(caller, max, claimId);
        }
        if (jobs.length > 0 || !waiter) return jobs;
        const left = deadline - Date.now();
        // A client that left gets nothing popped for it: its jobs stay queued for someone else.
        if (left <= 0 || gone.aborted) return [];
        const wake = await waiter.wait(left, gone);
        if (wake === false) return [];
        if (wake !== true) {
          // Handed the claim an enqueue made for it; a silent agent's ends empty, its job's wake passed on.
          const handed = leases.claimResult(wake.handed);
          labelCache.set(agentId, handed.labels);
          return handed.jobs;
        }
      }
    } finally {
      waiter?.dispose();
    }
  };

  return {
    async claim(caller, raw, gone) {
      const body = parseOr400(claimRequestSchema, raw, 'body');
      const waitMs = Math.min(body.waitMs ?? deps.longPollMs, deps.longPollMs);
      return { jobs: await claimWithWait(caller, body.max, body.claimId, waitMs, gone) };
    },
    async complete(caller, id, raw) {
      const body = parseOr400(completeRequestSchema, raw, 'body');
      // Complete-and-claim: the next jobs ride on the same round trip and the same script (never waits;
      // a long-poll is a claim call).
      const { duplicate, jobs } = await leases.complete(caller, id, body);
      return { accepted: true, ...(duplicate ? { duplicate: true } : {}), ...(body.claim ? { jobs: jobs ?? [] } : {}) };
    },
    async completeBatch(caller, raw) {
      // Batched complete: each result answered with its own status, the claim made whatever they are.
      const body = parseOr400(completeBatchRequestSchema, raw, 'body');
      const { results, jobs } = await leases.completeMany(caller, body.results, body.claim, 'all');
      return { results, ...(body.claim ? { jobs: jobs ?? [] } : {}) };
    },
    learnLabels(agentId, labels) {
      labelCache.set(agentId, labels);
    },
  };
}

export function agentRoutes(app: FastifyInstance, deps: AgentRouteDeps & { calls: AgentCalls }): void {
  const { leases, calls } = deps;

  app.post(agentApiPaths.register, async (req) => {
    const body = parseOr400(registerRequestSchema, req.body, 'body');
    const { leaseMs, serverTime } = await leases.register(body);
    calls.learnLabels(body.agentId, body.labels);
    // A restarted agent the platform drains is still drained (agent-drain.ts): the page says so.
    const state = (await deps.drains.isDrained(body.agentId)) ? 'draining' : 'online';
    await deps.events.append({ type: 'agent', id: body.agentId, state, running: 0, lastSeenAt: serverTime });
    req.log.info({ agentId: body.agentId, hostname: body.hostname, version: body.version }, 'agent registered');
    return { agentId: body.agentId, leaseMs, longPollMs: deps.longPollMs, logChunkMaxBytes: deps.logChunkMaxBytes, serverTime, portKeys: deps.portKeys };
  });

  // A job for the caller itself (its schedules): never for another agent, never by labels.
  app.post(agentApiPaths.submit, { bodyLimit: AGENT_SUBMIT_MAX_BYTES }, async (req, reply) => {
    const caller = callerOf(req);
    const raw = req.body;
    if (typeof raw === 'object' && raw !== null && !Array.isArray(raw)) {
      const body = raw as Record<string, unknown>;
      if ('labels' in body) throw agentMismatch('a job by labels (it could run on other hosts)', caller);
      if ('agent' in body && body.agent !== caller) throw agentMismatch(`the job's agent (${String(body.agent)})`, caller);
    }
    const spec = parseSubmission(raw, []);
    await deps.submitQuota.take(caller);
    // A schedule's run names its schedule in its key (schedule-key.ts): its outcome is filed under it.
    const run = spec.idempotencyKey === undefined ? undefined : parseScheduleKey(spec.idempotencyKey, caller);
    const [r] = await deps.jobs.enqueue([
      {
        ...spec,
        agent: caller,
        labels: undefined,
        idempotencyKey: spec.idempotencyKey === undefined ? undefined : agentIdempotencyKey(caller, spec.idempotencyKey),
        schedule: run ? { agentId: caller, name: run.schedule } : undefined,
      },
    ]);
    return reply.code(r!.created ? 201 : 200).send({ id: r!.id, state: r!.state, ...(r!.created ? {} : { duplicate: true }) });
  });

  // A job targeted at the caller, as the platform sees it: its schedules ask whether the last run is over.
  // Any other job answers 404 like one that does not exist, so a host cannot probe the platform's ids.
  app.get(agentApiPaths.job.route, async (req) => {
    const caller = callerOf(req);
    const { id } = parseOr400(jobParams, req.params, 'params');
    const view = await deps.jobs.get(id);
    if (view.target.agent !== caller) throw new NotFoundError('JOB_NOT_FOUND', `no job ${id}`);
    return view;
  });

  // A claim may wait longPollMs for a job before it answers: its own silence bound, not the server's.
  app.post(agentApiPaths.claim, { config: { handlerTimeoutMs: deps.longPollMs + 30_000 } }, async (req, reply) =>
    calls.claim(verifiedCaller(req), req.body, clientGone(reply)),
  );

  app.post(agentApiPaths.heartbeat, async (req) => leases.heartbeat(parseOr400(heartbeatRequestSchema, req.body, 'body')));

  app.post(agentApiPaths.renew.route, async (req) => {
    const { id } = parseOr400(jobParams, req.params, 'params');
    const body = parseOr400(renewRequestSchema, req.body, 'body');
    return { status: await leases.renew(id, body.epoch, callerOf(req)) };
  });

  app.post(agentApiPaths.step.route, async (req) => {
    const { id } = parseOr400(jobParams, req.params, 'params');
    return leases.step(id, parseOr400(stepUpdateSchema, req.body, 'body'), callerOf(req));
  });

  app.post(agentApiPaths.complete.route, async (req) => {
    const { id } = parseOr400(jobParams, req.params, 'params');
    return calls.complete(verifiedCaller(req), id, req.body);
  });

  app.post(agentApiPaths.completeBatch, async (req) => calls.completeBatch(verifiedCaller(req), req.body));

  // The log append takes raw bytes of any content type, so it lives in its own scope with its own parser,
  // which reads them into a pooled buffer (log-body.ts) given back once Redis has taken the bytes.
  const bodies = logBodies(deps.logChunkMaxBytes);
  void app.register(async (scope) => {
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser('*', (req, payload, done) => bodies.parse(req, payload, done));
    scope.post(agentApiPaths.log.route, async (req) => {
      const bytes = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
      let r: Awaited<ReturnType<typeof leases.appendLog>>;
      try {
        const { id } = parseOr400(jobParams, req.params, 'params');
        const q = parseOr400(logAppendQuerySchema, req.query, 'query');
        r = await leases.appendLog(id, q.epoch, q.offset, bytes, callerOf(req));
      } catch (err) {
        // A refusal (a bad query, or Redis's answer: a stale epoch, another agent's job) leaves nothing in
        // flight; anything else (Redis away, a timeout) may, and keeps the buffer out of the pool.
        if (err instanceof HttpAgentError && err.statusCode < 500) bodies.release(bytes);
        throw err;
      }
      bodies.release(bytes);
      return { offset: r.offset, ...(r.cancel ? { cancel: true } : {}) };
    });
  });
}
