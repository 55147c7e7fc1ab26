// Jobs the agent queues for itself with its own credential (its schedules, its port's POST /v1/jobs),
// and reading them back: the agent holds no platform token, so these are agent API calls.
import { submitReplySchema, type SubmitReply } from '../../shared/client/platform-jobs.js';
import type { ControllerHttp } from '../../shared/client/controller-http.js';
import { agentApiPaths } from '../../shared/protocol/agent-api.js';
import { jobViewSchema, type JobSubmit, type JobView } from '../../shared/protocol/job.js';

export interface OwnJobsResource {
  /** POST /v1/agent/jobs: targeted at this agent (the controller refuses any other target). */
  submit(job: JobSubmit): Promise<SubmitReply>;
  /** GET /v1/agent/jobs/:id: 404 JOB_NOT_FOUND for a job not targeted at this agent, or expired. */
  get(id: string): Promise<JobView>;
}

export function ownJobsResource(http: ControllerHttp): OwnJobsResource {
  return {
    submit: (job) => http.call(agentApiPaths.submit, submitReplySchema, { json: job }),
    get: (id) => http.call(agentApiPaths.job(id), jobViewSchema),
  };
}
