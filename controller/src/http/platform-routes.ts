// The platform API (bearer platform token, the viewer token for reads, or a dashboard session): submit,
// list, read, follow, cancel and retry jobs; list agents, their metrics and alerts, drain them; the
// overview figures. Every query, path and body is validated with the schemas in src/shared/protocol,
// which /openapi.json is generated from (platform-openapi.ts).
import { Readable } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { HttpAgentError } from '../../../src/shared/errors.js';
import { awaitServerSilence } from '../../../src/shared/http/connection-guard.js';
import { inputIssue, invalidInput, parseOr400 } from '../../../src/shared/http/validate.js';
import { FINAL_STATES, jobSubmitSchema, normaliseJob, type JobSpec, type JobState, type WaitingReason } from '../../../src/shared/protocol/job.js';
import { overviewQuerySchema } from '../../../src/shared/protocol/overview.js';
import {
  agentParamsSchema,
  jobListQuerySchema,
  jobParamsSchema,
  logQuerySchema,
  metricsQuerySchema,
  NEXT_CURSOR_HEADER,
  TOTAL_COUNT_HEADER,
  platformApiPaths as paths,
  retryRequestSchema,
} from '../../../src/shared/protocol/platform-api.js';
import type { AgentDirectory } from '../agent-directory.js';
import type { AgentDrain } from '../agent-drain.js';
import { formatCursor, parseCursor } from '../job-filter.js';
import type { JobList } from '../job-list.js';
import type { JobStore } from '../job-store.js';
import { queueFor } from '../keys.js';
import type { MonitorStore } from '../monitor-store.js';
import type { StatsStore } from '../stats-store.js';
import type { Notifier } from '../wake-hub.js';

const MAX_BATCH = 10_000;
/** Largest slice of a log one GET returns; clients page on with X-Log-Next-Offset. */
const LOG_PAGE_BYTES = 4 * 1024 * 1024;
const FOLLOW_POLL_MS = 200;

const [stepsForm, taskForm] = jobSubmitSchema.options;

/**
 * The one-step shorthand and the steps form are told apart by `steps`, so errors name the right fields.
 * `at` is the job's place in a batch ([] for a single job), prefixed to every issue's path.
 */
export function parseSubmission(body: unknown, at: number[]): JobSpec {
  const isObject = typeof body === 'object' && body !== null && !Array.isArray(body);
  if (!isObject) throw invalidInput('body', [inputIssue(at.join('.'), 'invalid_type', 'expected a job object')]);
  const schema = 'steps' in body ? stepsForm : taskForm;
  return normaliseJob(parseOr400(schema, body, 'body', at));
}

export interface PlatformDeps {
  jobs: JobStore;
  jobList: JobList;
  agents: AgentDirectory;
  drains: AgentDrain;
  monitor: MonitorStore;
  notifier: Notifier;
  stats: StatsStore;
  /** The Redis clock, ms (the one the scripts write with). */
  now(): Promise<number>;
}

export function platformRoutes(app: FastifyInstance, deps: PlatformDeps): void {
  const { jobs } = deps;

  /**
   * Why a queued job for `target` would wait with nobody to take it. A claim waiting on this controller
   * that could take it answers at once, unless its agent is drained (a drained agent's long-poll waits
   * too, and gets nothing); otherwise the registry of agents decides.
   */
  const whyWaiting = async (target: { agent?: string | undefined; labels?: Record<string, string> | undefined }): Promise<WaitingReason | undefined> => {
    const waiting = deps.notifier.waitersFor(queueFor(target).wake);
    if (waiting.length > 0) {
      const drained = await Promise.all(waiting.map((id) => deps.drains.isDrained(id)));
      if (drained.includes(false)) return undefined;
    }
    return deps.agents.whyWaiting(target);
  };

  /** One job in, its reply out (201 new, 200 for an idempotency key seen before), with `waiting` when it applies. */
  const submitOne = async (spec: JobSpec) => {
    const [r] = await jobs.enqueue([spec]);
    const waiting = r!.state === 'queued' && !r!.claimed ? await whyWaiting(spec) : undefined;
    return { created: r!.created, body: { id: r!.id, state: r!.state, ...(r!.created ? {} : { duplicate: true as const }), ...(waiting ? { waiting } : {}) } };
  };

  app.post(paths.jobs, async (req, reply) => {
    if (Array.isArray(req.body)) {
      const items = req.body as unknown[];
      if (items.length === 0 || items.length > MAX_BATCH) {
        throw invalidInput('body', [inputIssue('', items.length === 0 ? 'too_small' : 'too_big', `a batch holds 1 to ${MAX_BATCH} jobs`)]);
      }
      // Everything is validated before anything is written: the batch goes in whole or not at all.
      const specs = items.map((item, i) => parseSubmission(item, [i]));
      const results = await jobs.enqueue(specs);
      return reply.code(201).send(results.map((r) => ({ id: r.id, state: r.state, ...(r.created ? {} : { duplicate: true }) })));
    }
    const { created, body } = await submitOne(parseSubmission(req.body, []));
    return reply.code(created ? 201 : 200).send(body);
  });

  app.get(paths.jobs, async (req, reply) => {
    const q = parseOr400(jobListQuerySchema, req.query, 'query');
    const page = await deps.jobList.list(
      { states: q.state, agent: q.agent, labels: q.label, task: q.task, idContains: q.q, since: q.since, until: q.until },
      q.limit,
      q.cursor ? parseCursor(q.cursor) : undefined,
    );
    if (page.total !== undefined) void reply.header(TOTAL_COUNT_HEADER, String(page.total));
    if (page.next) void reply.header(NEXT_CURSOR_HEADER, formatCursor(page.next));
    return page.jobs;
  });

  app.get(paths.overview, async (req) => {
    const q = parseOr400(overviewQuerySchema, req.query, 'query');
    return deps.stats.overview(q.minutes, await deps.now());
  });

  app.get(paths.job.route, async (req) => {
    const job = await jobs.get(parseOr400(jobParamsSchema, req.params, 'params').id);
    if (job.state !== 'queued') return job;
    const waiting = await whyWaiting(job.target);
    return waiting ? { ...job, waiting } : job;
  });

  app.post(paths.jobCancel.route, async (req) => {
    const { id } = parseOr400(jobParamsSchema, req.params, 'params');
    if (req.body !== undefined && req.body !== null) parseOr400(z.strictObject({}), req.body, 'body');
    const state = await jobs.cancel(id);
    if (state === 'succeeded' || state === 'failed') {
      throw new HttpAgentError('JOB_FINAL', `job ${id} already ${state}`, { details: { state } });
    }
    return { id, state, cancelRequested: state === 'running' };
  });

  // A new job with the old one's spec: the first run keeps its log and outcome, the retry gets its own.
  app.post(paths.jobRetry.route, async (req, reply) => {
    const { id } = parseOr400(jobParamsSchema, req.params, 'params');
    const body = req.body === undefined || req.body === null ? {} : parseOr400(retryRequestSchema, req.body, 'body');
    const spec = await jobs.retrySpec(id);
    const { created, body: out } = await submitOne({ ...spec, ...(body.priority !== undefined ? { priority: body.priority } : {}), idempotencyKey: body.idempotencyKey });
    if (created) await jobs.markRetry(out.id, id);
    return reply.code(created ? 201 : 200).send({ ...out, retryOf: id });
  });

  app.get(paths.jobLog.route, async (req, reply) => {
    const { id } = parseOr400(jobParamsSchema, req.params, 'params');
    const q = parseOr400(logQuerySchema, req.query, 'query');
    const first = await jobs.readLog(id, q.offset, LOG_PAGE_BYTES);
    void reply.type('text/plain; charset=utf-8').header('x-log-truncated', String(first.truncated)).header('x-job-state', first.state);
    if (q.download === '1') {
      // Page after page of what is stored now; a running job's later bytes are for a later download.
      async function* all(): AsyncGenerator<Buffer> {
        let cur = first;
        let offset = q.offset;
        while (cur.bytes.length > 0) {
          yield cur.bytes;
          offset += cur.bytes.length;
          if (cur.bytes.length < LOG_PAGE_BYTES) return;
          cur = await jobs.readLog(id, offset, LOG_PAGE_BYTES);
        }
      }
      return reply.header('content-disposition', `attachment; filename="${id}.log"`).send(Readable.from(all()));
    }
    if (q.follow !== '1' && q.follow !== 'true') {
      return reply.header('x-log-next-offset', String(q.offset + first.bytes.length)).send(first.bytes);
    }
    // Follow: stream what there is, then poll for more until the job is final and the log drained.
    const gone = new AbortController();
    reply.raw.on('close', () => gone.abort());
    async function* chunks(): AsyncGenerator<Buffer> {
      let offset = q.offset;
      let cur = first;
      for (;;) {
        if (cur.bytes.length > 0) {
          yield cur.bytes;
          offset += cur.bytes.length;
        }
        const final = (FINAL_STATES as readonly JobState[]).includes(cur.state);
        if (final && cur.bytes.length < LOG_PAGE_BYTES) return;
        if (cur.bytes.length === 0) {
          // A quiet job sends nothing for as long as it likes; only the writes are under the idle timeout.
          await awaitServerSilence(reply, new Promise<void>((resolve) => {
            // The listener goes with the wait: left on the signal, one piled up every poll of a long follow.
            const onGone = () => { clearTimeout(t); resolve(); };
            const t = setTimeout(() => { gone.signal.removeEventListener('abort', onGone); resolve(); }, FOLLOW_POLL_MS);
            gone.signal.addEventListener('abort', onGone, { once: true });
          }));
        }
        if (gone.signal.aborted) return;
        cur = await jobs.readLog(id, offset, LOG_PAGE_BYTES);
      }
    }
    return reply.header('x-log-next-offset', String(q.offset)).send(Readable.from(chunks()));
  });

  app.get(paths.agents, async () => deps.agents.list());

  app.get(paths.agentMetrics.route, async (req) => {
    const { id } = parseOr400(agentParamsSchema, req.params, 'params');
    const q = parseOr400(metricsQuerySchema, req.query, 'query');
    return { samples: await deps.monitor.history(id, q.since ?? 0) };
  });

  /**
   * Sets or clears the drain mark, then tells this controller at once, without waiting for its own
   * announcement to come back (drain-feed.ts, which tells the others): the waiting-reason reading is
   * dropped, and the agent's claims waiting here stop taking wakes (drained) or claim now (resumed).
   */
  const setDrain = async (id: string, drained: boolean) => {
    const r = drained ? await deps.drains.drain(id) : await deps.drains.resume(id);
    deps.agents.forget();
    deps.notifier.drainChanged(id, drained);
    return r;
  };

  app.post(paths.agentDrain.route, async (req) => {
    const { id } = parseOr400(agentParamsSchema, req.params, 'params');
    if (req.body !== undefined && req.body !== null) parseOr400(z.strictObject({}), req.body, 'body');
    const r = await setDrain(id, true);
    req.log.info({ agentId: id }, 'agent drained by the platform');
    return r;
  });

  app.delete(paths.agentDrain.route, async (req) => {
    const { id } = parseOr400(agentParamsSchema, req.params, 'params');
    const r = await setDrain(id, false);
    req.log.info({ agentId: id }, 'agent resumed by the platform');
    return r;
  });

  app.get(paths.agentAlerts.route, async (req) => {
    const { id } = parseOr400(agentParamsSchema, req.params, 'params');
    return { state: await deps.monitor.getAlertState(id) };
  });
}
