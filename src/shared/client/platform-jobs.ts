// Platform resource (platform token): submit, read, follow and cancel jobs, list agents. Used by the
// console and by the agent's own POST /v1/jobs forwarder.
import type { Readable } from 'node:stream';
import { z } from 'zod';
import { jobViewSchema, type JobSubmit, type JobView } from '../protocol/job.js';
import { agentViewSchema, platformApiPaths as paths, type AgentView } from '../protocol/platform-api.js';
import { BadReplyError, type ControllerHttp } from './controller-http.js';

export const submitReplySchema = z.looseObject({ id: z.string(), state: z.string() });
export type SubmitReply = z.infer<typeof submitReplySchema>;


export interface LogSlice {
  bytes: Buffer;
  /** Where the next read starts. */
  nextOffset: number;
}

export interface PlatformJobsResource {
  submit(job: JobSubmit): Promise<SubmitReply>;
  get(id: string): Promise<JobView>;
  log(id: string, offset?: number): Promise<LogSlice>;
  /** The log from `offset`, streamed until the job ends (follow=1). */
  follow(id: string, offset?: number): Promise<Readable>;
  cancel(id: string): Promise<void>;
  agents(): Promise<AgentView[]>;
}

/** The controller names where the next read starts in `x-log-next-offset` on every log page. */
function nextOffsetFrom(headers: Record<string, string | string[] | undefined>, path: string): number {
  const v = headers['x-log-next-offset'];
  if (typeof v === 'string' && /^\d+$/.test(v)) return Number(v);
  throw new BadReplyError(path, new Error('x-log-next-offset missing or not an offset'));
}

export function platformJobsResource(http: ControllerHttp): PlatformJobsResource {
  return {
    submit: (job) => http.call(paths.jobs, submitReplySchema, { json: job }),
    get: (id) => http.call(paths.job(id), jobViewSchema),
    async log(id, offset = 0) {
      const res = await http.raw(paths.jobLog(id), { query: { offset } });
      const bytes = Buffer.from(await res.body.arrayBuffer());
      return { bytes, nextOffset: nextOffsetFrom(res.headers, paths.jobLog(id)) };
    },
    async follow(id, offset = 0) {
      const res = await http.raw(paths.jobLog(id), { query: { offset, follow: 1 }, timeoutMs: 60_000 });
      return res.body;
    },
    async cancel(id) {
      const res = await http.raw(paths.jobCancel(id), { method: 'POST', json: {} });
      await res.body.dump();
    },
    agents: () => http.call(paths.agents, z.array(agentViewSchema)),
  };
}
