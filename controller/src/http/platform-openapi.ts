// The controller's /openapi.json: the platform API (and the two public service routes) described with
// the schemas its routes validate with, through the generator both servers share. Every example here is
// replayed against a real controller by test/integration/controller-openapi.test.ts.
import { buildOpenApi, type ApiOperation } from '../../../src/shared/http/openapi.js';
import { portTokenRequestSchema, portTokenResponseSchema } from '../../../src/shared/protocol/identity.js';
import { jobSubmitSchema, jobViewSchema } from '../../../src/shared/protocol/job.js';
import { overviewQuerySchema } from '../../../src/shared/protocol/overview.js';
import {
  agentParamsSchema,
  agentViewSchema,
  batchSubmitReplySchema,
  cancelReplySchema,
  controllerHealthSchema,
  jobListQuerySchema,
  jobListReplySchema,
  jobParamsSchema,
  logQuerySchema,
  metricsQuerySchema,
  metricsReplySchema,
  NEXT_CURSOR_HEADER,
  TOTAL_COUNT_HEADER,
  platformApiPaths as paths,
  retryReplySchema,
  revokeResponseSchema,
  retryRequestSchema,
  servicePaths,
  submitReplySchema,
} from '../../../src/shared/protocol/platform-api.js';
import { z } from 'zod';

const BODY = ['BAD_REQUEST', 'BAD_JSON', 'BODY_TOO_LARGE', 'UNSUPPORTED_MEDIA_TYPE'] as const;

/** POST and DELETE /v1/agents/:id/drain. */
const drainReplySchema = z.object({ agentId: z.string(), draining: z.boolean() });

/** One job, or a batch of them (all or none). */
const submitBodySchema = z.union([jobSubmitSchema, z.array(jobSubmitSchema).min(1).max(10_000)]);

const operations: ApiOperation[] = [
  {
    id: 'submitJobs',
    method: 'post',
    path: paths.jobs,
    tag: 'jobs',
    summary: 'Queue one job, or a batch (a JSON array) all or none',
    description:
      'A job names `agent` (that agent only), `labels` (any agent whose labels include them) or neither (any agent). ' +
      'Param values are strings; numbers and booleans are turned into their string form. With an `idempotencyKey` seen ' +
      'before, the existing job is answered (200, `duplicate: true`). A single job that no registered agent can take is ' +
      'answered with `waiting` saying why.',
    body: submitBodySchema,
    ok: [
      { status: 201, description: 'queued: one reply for a job, an array for a batch', json: z.union([submitReplySchema, batchSubmitReplySchema]) },
      { status: 200, description: 'the job already queued under this idempotencyKey', json: submitReplySchema },
    ],
    errors: [...BODY, 'REDIS_UNAVAILABLE'],
    examples: [
      { name: 'one-step', summary: 'the one-step shorthand, numbers in params', body: { task: 'noop', params: { message: 'hello', sleep: 0 } }, status: 201 },
      {
        name: 'steps',
        summary: 'two steps for agents labelled env=dev, with an idempotency key',
        body: { steps: [{ task: 'noop', params: { message: 'first' } }, { task: 'noop', params: { message: 'second' } }], labels: { env: 'dev' }, priority: 10, idempotencyKey: 'example-steps-1' },
        status: 201,
      },
      { name: 'batch', summary: 'a batch of two', body: [{ task: 'noop' }, { task: 'noop', agent: 'example-agent' }], status: 201 },
      { name: 'unknown-field', summary: 'a misspelt field is refused, naming it', body: { task: 'noop', prioirty: 1 }, status: 400 },
    ],
  },
  {
    id: 'listJobs',
    method: 'get',
    path: paths.jobs,
    tag: 'jobs',
    summary: 'List jobs, newest first, filtered and paged',
    description:
      `Every filter narrows. A page holds at most \`limit\` jobs; when more follow, the \`${NEXT_CURSOR_HEADER}\` header ` +
      'holds the cursor of the next page. Each filter is an index, so a page costs about the same however many jobs there are. ' +
      `\`${TOTAL_COUNT_HEADER}\` counts the matches, except for \`q\` and when several filters combine (state and label, say), where one ` +
      'request examines at most 20,000 jobs of the smallest index (5,000 ids for q): a rare match may answer a short (even empty) page with a cursor, ' +
      'so go on until the cursor header is absent. A page may also hold fewer jobs when some changed or expired while it was read.',
    query: jobListQuerySchema,
    ok: [{ status: 200, description: 'the jobs of this page', json: jobListReplySchema, headers: { [NEXT_CURSOR_HEADER]: 'the cursor of the next page, absent on the last', [TOTAL_COUNT_HEADER]: 'how many jobs the filter matches, every page together (absent for q and when several filters combine)' } }],
    errors: ['BAD_REQUEST', 'REDIS_UNAVAILABLE'],
    examples: [
      { name: 'failed-recently', summary: 'failed or cancelled jobs since a time', query: { state: 'failed,cancelled', since: '2026-01-01T00:00:00Z', limit: '20' }, status: 200 },
      { name: 'by-label-and-task', summary: 'noop jobs for env=dev', query: { label: 'env=dev', task: 'noop' }, status: 200 },
      { name: 'seconds-refused', summary: 'a time in seconds is refused', query: { since: '1764000000' }, status: 400 },
    ],
  },
  {
    id: 'getJob',
    method: 'get',
    path: paths.job.route,
    tag: 'jobs',
    summary: 'A job, its steps and, while it is queued with nobody to take it, why',
    params: jobParamsSchema,
    ok: [{ status: 200, description: 'the job', json: jobViewSchema }],
    errors: ['BAD_REQUEST', 'JOB_NOT_FOUND', 'REDIS_UNAVAILABLE'],
    examples: [
      { name: 'queued', summary: 'a queued job (with `waiting` when no agent can take it)', params: { id: '<queued-job>' }, status: 200 },
      { name: 'missing', summary: 'no such job', params: { id: 'NoSuchJob0000000' }, status: 404 },
    ],
  },
  {
    id: 'getJobLog',
    method: 'get',
    path: paths.jobLog.route,
    tag: 'jobs',
    summary: 'The log from a byte offset, or followed until the job ends',
    params: jobParamsSchema,
    query: logQuerySchema,
    ok: [
      {
        status: 200,
        description: 'log bytes',
        text: 'text/plain',
        headers: { 'x-log-next-offset': 'where the next read starts', 'x-log-truncated': 'true when logCapBytes cut the log', 'x-job-state': 'the job state when the read began' },
      },
    ],
    errors: ['BAD_REQUEST', 'JOB_NOT_FOUND', 'REDIS_UNAVAILABLE'],
    examples: [{ name: 'from-start', summary: 'a finished job from its first byte', params: { id: '<finished-job>' }, query: { offset: '0' }, status: 200 }],
  },
  {
    id: 'cancelJob',
    method: 'post',
    path: paths.jobCancel.route,
    tag: 'jobs',
    summary: 'Cancel a job: a queued one at once, a running one through its agent',
    params: jobParamsSchema,
    ok: [{ status: 200, description: 'cancelled, or cancel requested', json: cancelReplySchema }],
    errors: ['BAD_REQUEST', 'JOB_NOT_FOUND', 'JOB_FINAL', 'REDIS_UNAVAILABLE'],
    examples: [
      { name: 'queued', summary: 'a queued job is cancelled at once', params: { id: '<queued-job>' }, status: 200 },
      { name: 'finished', summary: 'a finished job cannot be', params: { id: '<finished-job>' }, status: 409 },
    ],
  },
  {
    id: 'retryJob',
    method: 'post',
    path: paths.jobRetry.route,
    tag: 'jobs',
    summary: 'Queue a finished job again, as a new job',
    description:
      'The new job has the same steps, target, priority (unless given), attempts and timeout, and `retryOf` naming the ' +
      'original, which keeps its own log and outcome. An `idempotencyKey` makes the call safe to repeat.',
    params: jobParamsSchema,
    body: retryRequestSchema,
    ok: [
      { status: 201, description: 'the new job', json: retryReplySchema },
      { status: 200, description: 'the job already made under this idempotencyKey', json: retryReplySchema },
    ],
    errors: [...BODY, 'JOB_NOT_FOUND', 'JOB_NOT_FINAL', 'REDIS_UNAVAILABLE'],
    examples: [
      { name: 'finished', summary: 'a finished job again, with a key', params: { id: '<finished-job>' }, body: { idempotencyKey: 'example-retry-1' }, status: 201 },
      { name: 'still-queued', summary: 'a job not yet finished cannot be', params: { id: '<queued-job>' }, body: {}, status: 409 },
    ],
  },
  {
    id: 'listAgents',
    method: 'get',
    path: paths.agents,
    tag: 'agents',
    summary: 'Every registered agent with its state, labels, monitor and latest host sample',
    ok: [{ status: 200, description: 'the agents', json: z.array(agentViewSchema) }],
    errors: ['REDIS_UNAVAILABLE'],
    examples: [{ name: 'all', summary: 'all agents', status: 200 }],
  },
  {
    id: 'revokeAgent',
    method: 'delete',
    path: paths.agent.route,
    tag: 'agents',
    summary: "Revoke an agent's credential at once; the jobs it holds go back to their queues",
    description: 'The agent hears CREDENTIAL_REVOKED on its next call and stops; it can enroll again (with an enrollment token) only after this.',
    params: agentParamsSchema,
    ok: [{ status: 200, description: 'revoked', json: revokeResponseSchema }],
    errors: ['BAD_REQUEST', 'AGENT_NOT_FOUND', 'REDIS_UNAVAILABLE'],
    examples: [{ name: 'unknown', summary: 'an agent this controller never saw', params: { id: 'nobody-example' }, status: 404 }],
  },
  {
    id: 'mintPortToken',
    method: 'post',
    path: paths.agentToken.route,
    tag: 'agents',
    summary: "A short-lived port token for one agent's port (bearer on its /v1/run, /v1/delete, …)",
    params: agentParamsSchema,
    body: portTokenRequestSchema,
    ok: [{ status: 200, description: 'the token (an EdDSA JWT) and when it expires (ms since the epoch)', json: portTokenResponseSchema }],
    errors: [...BODY, 'AGENT_NOT_FOUND', 'SIGNING_KEY_UNSET', 'REDIS_UNAVAILABLE'],
    examples: [
      { name: 'enrolled', summary: 'a token for an enrolled agent', params: { id: '<enrolled-agent>' }, body: { ttlSec: 60 }, status: 200 },
      { name: 'unknown', summary: 'no token for an agent that holds no credential', params: { id: 'nobody-example' }, body: {}, status: 404 },
    ],
  },
  {
    id: 'agentMetrics',
    method: 'get',
    path: paths.agentMetrics.route,
    tag: 'agents',
    summary: "An agent's host samples (its monitor's), oldest first",
    params: agentParamsSchema,
    query: metricsQuerySchema,
    ok: [{ status: 200, description: 'the samples', json: metricsReplySchema }],
    errors: ['BAD_REQUEST', 'REDIS_UNAVAILABLE'],
    examples: [
      { name: 'since', summary: 'samples since a time in ms', params: { id: 'example-agent' }, query: { since: '1764000000000' }, status: 200 },
      { name: 'seconds-refused', summary: 'a time in seconds is refused, not read as 1970', params: { id: 'example-agent' }, query: { since: '1764000000' }, status: 400 },
    ],
  },
  {
    id: 'drainAgent',
    method: 'post',
    path: paths.agentDrain.route,
    tag: 'agents',
    summary: 'Drain an agent: its claims get no new job, it finishes the ones it holds (the mark outlives re-registration)',
    params: agentParamsSchema,
    ok: [{ status: 200, description: 'drained', json: drainReplySchema }],
    errors: [...BODY, 'AGENT_NOT_FOUND', 'REDIS_UNAVAILABLE'],
    examples: [{ name: 'unknown', summary: 'an agent that is not registered', params: { id: 'nobody-example' }, status: 404 }],
  },
  {
    id: 'resumeAgent',
    method: 'delete',
    path: paths.agentDrain.route,
    tag: 'agents',
    summary: 'Resume a drained agent: it claims again',
    params: agentParamsSchema,
    ok: [{ status: 200, description: 'resumed', json: drainReplySchema }],
    errors: ['BAD_REQUEST', 'AGENT_NOT_FOUND', 'REDIS_UNAVAILABLE'],
    examples: [{ name: 'unknown', summary: 'an agent that is not registered', params: { id: 'nobody-example' }, status: 404 }],
  },
  {
    id: 'agentAlerts',
    method: 'get',
    path: paths.agentAlerts.route,
    tag: 'agents',
    summary: "An agent's monitor alert state: open incidents and their history (null before its monitor filed any)",
    params: agentParamsSchema,
    ok: [{ status: 200, description: 'the alert state', json: z.object({ state: z.record(z.string(), z.unknown()).nullable() }) }],
    errors: ['BAD_REQUEST', 'REDIS_UNAVAILABLE'],
    examples: [{ name: 'none', summary: 'an agent whose monitor filed nothing', params: { id: 'nobody-example' }, status: 200 }],
  },
  {
    id: 'overview',
    method: 'get',
    path: paths.overview,
    tag: 'jobs',
    summary: "Job counts by state and per-minute figures over a window (the dashboard's Overview page)",
    query: overviewQuerySchema,
    ok: [{ status: 200, description: '{now, counts, minutes: [{t, submitted, picked, pickupMs, done, queued, running}], failuresByTask}' }],
    errors: ['BAD_REQUEST', 'REDIS_UNAVAILABLE'],
    examples: [
      { name: 'hour', summary: 'the last 60 minutes', query: { minutes: '60' }, status: 200 },
      { name: 'counts', summary: 'the counts alone', query: { minutes: '0' }, status: 200 },
    ],
  },
  {
    id: 'health',
    method: 'get',
    path: servicePaths.health,
    tag: 'service',
    summary: 'Liveness; 503 while Redis does not answer',
    public: true,
    ok: [{ status: 200, description: 'Redis answers', json: controllerHealthSchema }],
    errors: [],
    examples: [{ name: 'up', summary: 'a healthy controller', status: 200 }],
  },
  {
    id: 'openapi',
    method: 'get',
    path: servicePaths.openapi,
    tag: 'service',
    summary: 'This document',
    public: true,
    ok: [{ status: 200, description: 'OpenAPI 3.1' }],
    errors: [],
    examples: [{ name: 'document', summary: 'this document', status: 200 }],
  },
];

export function buildControllerOpenApi(info: { version: string }): Record<string, unknown> {
  return buildOpenApi({
    title: 'httpagent controller: platform API',
    version: info.version,
    description:
      'Queue, follow, cancel and retry heavy jobs, see and revoke agents, and mint port tokens. Bearer: the platform token. Errors are ' +
      '{"error":{"code","message"}}; every code is in docs/errors.md. Every reply carries x-httpagent-service: controller. ' +
      'The agent API (/v1/agent/*) is described in docs/agent-api.md.',
    auth: { name: 'platformToken', description: 'the platform token (platformToken / HTTPAGENT_PLATFORM_TOKEN)' },
    operations,
  });
}
