// Platform resource (platform token): submit, list, read, follow, cancel and retry jobs; list and revoke
// agents, and mint port tokens for their ports.
// Used by the console and by the agent's own POST /v1/jobs forwarder.
import type { Readable } from 'node:stream';
import { z } from 'zod';
import { HttpAgentError } from '../errors.js';
import { portTokenResponseSchema, type PortTokenResponse } from '../protocol/identity.js';
import { jobViewSchema, type JobSubmit, type JobView } from '../protocol/job.js';
import {
  agentViewSchema,
  cancelReplySchema,
  jobListReplySchema,
  NEXT_CURSOR_HEADER,
  platformApiPaths as paths,
  retryReplySchema,
  revokeResponseSchema,
  servicePaths,
  submitReplySchema,
  type AgentView,
  type RetryReply,
  type RetryRequest,
  type RevokeResponse,
  type SubmitReply,
} from '../protocol/platform-api.js';
import { BadReplyError, type ControllerHttp } from './controller-http.js';

export { submitReplySchema, type SubmitReply };

export interface LogSlice {
  bytes: Buffer;
  /** Where the next read starts. */
  nextOffset: number;
}

/** GET /v1/jobs filters as the query string carries them (see jobListQuerySchema). */
export interface JobListRequest {
  state?: string | undefined;
  agent?: string | undefined;
  /** `k=v,k=v`. */
  label?: string | undefined;
  task?: string | undefined;
  q?: string | undefined;
  since?: string | number | undefined;
  until?: string | number | undefined;
  limit?: number | undefined;
  cursor?: string | undefined;
}

export interface JobListPage {
  jobs: JobView[];
  /** Pass as `cursor` for the next page; undefined on the last. */
  nextCursor: string | undefined;
}

export interface PlatformJobsResource {
  /**
   * Proves the address is a controller before anything is sent that would change state there: an
   * agent's port would queue a submitted job itself (its own POST /v1/jobs) before its reply could be
   * recognised. Rejects with NOT_A_CONTROLLER or CONTROLLER_UNREACHABLE; an unhealthy controller passes.
   */
  identify(): Promise<void>;
  submit(job: JobSubmit): Promise<SubmitReply>;
  list(req?: JobListRequest): Promise<JobListPage>;
  get(id: string): Promise<JobView>;
  log(id: string, offset?: number): Promise<LogSlice>;
  /** The log from `offset`, streamed until the job ends (follow=1); `signal` ends the request itself. */
  follow(id: string, offset?: number, signal?: AbortSignal): Promise<Readable>;
  cancel(id: string): Promise<z.infer<typeof cancelReplySchema>>;
  retry(id: string, req?: RetryRequest): Promise<RetryReply>;
  agents(): Promise<AgentView[]>;
  /** DELETE /v1/agents/:id: its credential revoked at once, the jobs it holds re-queued. */
  revokeAgent(id: string): Promise<RevokeResponse>;
  /** POST /v1/agents/:id/token: a short-lived bearer for that agent's port. */
  portToken(id: string, ttlSec?: number): Promise<PortTokenResponse>;
}

/** The controller names where the next read starts in `x-log-next-offset` on every log page. */
function nextOffsetFrom(headers: Record<string, string | string[] | undefined>, path: string): number {
  const v = headers['x-log-next-offset'];
  if (typeof v === 'string' && /^\d+$/.test(v)) return Number(v);
  throw new BadReplyError(path, new Error('x-log-next-offset missing or not an offset'));
}

export function platformJobsResource(http: ControllerHttp): PlatformJobsResource {
  return {
    async identify() {
      try {
        const res = await http.raw(servicePaths.health);
        await res.body.dump();
      } catch (err) {
        // 503 (Redis away) and the like come from a controller: what the caller does next will say more.
        if (err instanceof HttpAgentError && (err.code === 'NOT_A_CONTROLLER' || err.code === 'CONTROLLER_UNREACHABLE')) throw err;
      }
    },
    submit: (job) => http.call(paths.jobs, submitReplySchema, { json: job }),
    async list(req = {}) {
      const query = Object.fromEntries(Object.entries(req).filter((e) => e[1] !== undefined)) as Record<string, string | number>;
      const res = await http.raw(paths.jobs, { query });
      const jobs = jobListReplySchema.safeParse(await res.body.json().catch((err: unknown) => err));
      if (!jobs.success) throw new BadReplyError(paths.jobs, jobs.error);
      const next = res.headers[NEXT_CURSOR_HEADER];
      return { jobs: jobs.data, nextCursor: typeof next === 'string' && next ? next : undefined };
    },
    get: (id) => http.call(paths.job(id), jobViewSchema),
    async log(id, offset = 0) {
      const res = await http.raw(paths.jobLog(id), { query: { offset } });
      const bytes = Buffer.from(await res.body.arrayBuffer());
      return { bytes, nextOffset: nextOffsetFrom(res.headers, paths.jobLog(id)) };
    },
    async follow(id, offset = 0, signal) {
      const res = await http.raw(paths.jobLog(id), { query: { offset, follow: 1 }, timeoutMs: 60_000, signal });
      return res.body;
    },
    cancel: (id) => http.call(paths.jobCancel(id), cancelReplySchema, { method: 'POST', json: {} }),
    retry: (id, req = {}) => http.call(paths.jobRetry(id), retryReplySchema, { method: 'POST', json: req }),
    agents: () => http.call(paths.agents, z.array(agentViewSchema)),
    revokeAgent: (id) => http.call(paths.agent(id), revokeResponseSchema, { method: 'DELETE' }),
    portToken: (id, ttlSec) => http.call(paths.agentToken(id), portTokenResponseSchema, { method: 'POST', json: ttlSec === undefined ? {} : { ttlSec } }),
  };
}
