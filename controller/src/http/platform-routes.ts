// The platform API (bearer platform token, or a dashboard session): submit, read, follow, cancel and retry
// jobs; list agents, their metrics and alerts; the overview figures. Listing jobs is job-list-routes.ts.
import { Readable } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { HttpAgentError } from '../../../src/shared/errors.js';
import { inputIssue, invalidInput, parseOr400 } from '../../../src/shared/http/validate.js';
import { agentIdSchema, jobIdSchema } from '../../../src/shared/protocol/ids.js';
import { FINAL_STATES, jobSubmitSchema, normaliseJob, type JobSpec, type JobState } from '../../../src/shared/protocol/job.js';
import { overviewQuerySchema } from '../../../src/shared/protocol/overview.js';
import { platformApiPaths as paths } from '../../../src/shared/protocol/platform-api.js';
import type { AgentDirectory } from '../agent-directory.js';
import type { AgentDrain } from '../agent-drain.js';
import type { JobStore } from '../job-store.js';
import type { MonitorStore } from '../monitor-store.js';
import type { StatsStore } from '../stats-store.js';

const MAX_BATCH = 10_000;
/** Largest slice of a log one GET returns; clients page on with X-Log-Next-Offset. */
const LOG_PAGE_BYTES = 4 * 1024 * 1024;
const FOLLOW_POLL_MS = 200;

const [stepsForm, taskForm] = jobSubmitSchema.options;
const jobParams = z.strictObject({ id: jobIdSchema });
const agentParams = z.strictObject({ id: agentIdSchema });
const logQuery = z.strictObject({
  offset: z.coerce.number().int().min(0).max(Number.MAX_SAFE_INTEGER).default(0),
  follow: z.enum(['0', '1', 'true', 'false']).optional(),
  /** The whole log stored so far as one attachment (the dashboard's download), however large. */
  download: z.enum(['0', '1']).optional(),
});
const metricsQuery = z.strictObject({ since: z.coerce.number().int().min(0).default(0) });

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
  agents: AgentDirectory;
  drains: AgentDrain;
  monitor: MonitorStore;
  stats: StatsStore;
  /** The Redis clock, ms (the one the scripts write with). */
  now(): Promise<number>;
}

export function platformRoutes(app: FastifyInstance, deps: PlatformDeps): void {
  const { jobs } = deps;

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
    const [r] = await jobs.enqueue([parseSubmission(req.body, [])]);
    return reply.code(r!.created ? 201 : 200).send({ id: r!.id, state: r!.state, ...(r!.created ? {} : { duplicate: true }) });
  });

  app.get(paths.overview, async (req) => {
    const q = parseOr400(overviewQuerySchema, req.query, 'query');
    return deps.stats.overview(q.minutes, await deps.now());
  });

  app.get(paths.job.route, async (req) => jobs.get(parseOr400(jobParams, req.params, 'params').id));

  // A new job with the old one's spec: the first run keeps its log and outcome, the retry gets its own.
  app.post(paths.jobRetry.route, async (req, reply) => {
    const { id } = parseOr400(jobParams, req.params, 'params');
    if (req.body !== undefined && req.body !== null) parseOr400(z.strictObject({}), req.body, 'body');
    const [r] = await jobs.enqueue([await jobs.retrySpec(id)]);
    return reply.code(201).send({ id: r!.id, state: r!.state, retryOf: id });
  });

  app.post(paths.jobCancel.route, async (req) => {
    const { id } = parseOr400(jobParams, req.params, 'params');
    if (req.body !== undefined && req.body !== null) parseOr400(z.strictObject({}), req.body, 'body');
    const state = await jobs.cancel(id);
    if (state === 'succeeded' || state === 'failed') {
      throw new HttpAgentError('JOB_FINAL', `job ${id} already ${state}`, { details: { state } });
    }
    return { id, state, cancelRequested: state === 'running' };
  });

  app.get(paths.jobLog.route, async (req, reply) => {
    const { id } = parseOr400(jobParams, req.params, 'params');
    const q = parseOr400(logQuery, req.query, 'query');
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
          await new Promise<void>((resolve) => {
            const t = setTimeout(resolve, FOLLOW_POLL_MS);
            gone.signal.addEventListener('abort', () => { clearTimeout(t); resolve(); }, { once: true });
          });
        }
        if (gone.signal.aborted) return;
        cur = await jobs.readLog(id, offset, LOG_PAGE_BYTES);
      }
    }
    return reply.header('x-log-next-offset', String(q.offset)).send(Readable.from(chunks()));
  });

  app.get(paths.agents, async () => deps.agents.list());

  app.get(paths.agentMetrics.route, async (req) => {
    const { id } = parseOr400(agentParams, req.params, 'params');
    const q = parseOr400(metricsQuery, req.query, 'query');
    return { samples: await deps.monitor.history(id, q.since) };
  });

  app.post(paths.agentDrain.route, async (req) => {
    const { id } = parseOr400(agentParams, req.params, 'params');
    if (req.body !== undefined && req.body !== null) parseOr400(z.strictObject({}), req.body, 'body');
    const r = await deps.drains.drain(id);
    req.log.info({ agentId: id }, 'agent drained by the platform');
    return r;
  });

  app.delete(paths.agentDrain.route, async (req) => {
    const { id } = parseOr400(agentParams, req.params, 'params');
    const r = await deps.drains.resume(id);
    req.log.info({ agentId: id }, 'agent resumed by the platform');
    return r;
  });

  app.get(paths.agentAlerts.route, async (req) => {
    const { id } = parseOr400(agentParams, req.params, 'params');
    return { state: await deps.monitor.getAlertState(id) };
  });
}
