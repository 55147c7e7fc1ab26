// GET /v1/jobs: the paged, filtered job list over the job indexes (job-query.ts), newest first. Its own
// module: the query (src/shared/protocol/job-list.ts), this route and job-query.ts go together.
import type { FastifyInstance } from 'fastify';
import { parseOr400 } from '../../../src/shared/http/validate.js';
import { jobListQuerySchema, NEXT_CURSOR_HEADER, TOTAL_COUNT_HEADER } from '../../../src/shared/protocol/job-list.js';
import { platformApiPaths as paths } from '../../../src/shared/protocol/platform-api.js';
import { formatCursor, parseCursor, type JobQuery } from '../job-query.js';

export interface JobListDeps {
  jobQuery: JobQuery;
}

export function jobListRoutes(app: FastifyInstance, deps: JobListDeps): void {
  app.get(paths.jobs, async (req, reply) => {
    const q = parseOr400(jobListQuerySchema, req.query, 'query');
    const page = await deps.jobQuery.list(
      { states: q.state, agent: q.agent, labels: q.label, task: q.task, idContains: q.q, since: q.since, until: q.until },
      q.limit,
      q.cursor ? parseCursor(q.cursor) : undefined,
    );
    if (page.next) void reply.header(NEXT_CURSOR_HEADER, formatCursor(page.next));
    return reply.header(TOTAL_COUNT_HEADER, String(page.total)).send(page.jobs);
  });
}
