// POST /v1/jobs: a heavy job for this same agent, forwarded durably to the controller (202, run later).
import type { FastifyInstance } from 'fastify';
import { HttpAgentError, UpstreamError } from '../../shared/errors.js';
import { inputIssue, invalidInput, parseOr400 } from '../../shared/http/validate.js';
import { normaliseJob } from '../../shared/protocol/job.js';
import { platformApiPaths } from '../../shared/protocol/platform-api.js';
import type { RouteContext } from './route-context.js';
import { jobSubmitSchema } from './schemas.js';

export function registerJobsRoute(app: FastifyInstance, { config, deps }: RouteContext): void {
  app.post('/v1/jobs', async (request, reply) => {
    const body = parseOr400(jobSubmitSchema, request.body);
    if (body.agent !== undefined && body.agent !== config.agentId) {
      throw invalidInput('body', [inputIssue('agent', 'custom', `this port only queues jobs for itself ("${config.agentId}")`)]);
    }
    // Targeted at this agent by id; labels would only add a way for the job never to match.
    const spec = { ...normaliseJob(body), agent: config.agentId, labels: undefined };
    let id: string;
    try {
      ({ id } = await deps.jobs.submitJob(spec));
    } catch (err) {
      if (err instanceof HttpAgentError) throw err;
      throw new UpstreamError('CONTROLLER_UNREACHABLE', 'the controller did not accept the job', { cause: err });
    }
    request.log.info({ jobId: id }, 'job forwarded to the controller');
    const statusUrl = `${config.controllerUrl.replace(/\/+$/, '')}${platformApiPaths.job(id)}`;
    return reply.code(202).send({ id, statusUrl });
  });
}
