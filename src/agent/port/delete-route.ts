// POST /v1/delete: files and trees removed only inside deleteRoots, one result per path.
import type { FastifyInstance } from 'fastify';
import { HttpAgentError } from '../../shared/errors.js';
import { deletePaths, type DeleteResult } from '../tasks/delete-paths.js';
import type { RouteContext } from './route-context.js';
import { deleteRequestSchema } from './schemas.js';
import { parseOr400 } from '../../shared/http/validate.js';

export function registerDeleteRoute(app: FastifyInstance, { config, deps, deleteRoots }: RouteContext): void {
  // Removing a large tree takes as long as the tree is large: bounded by the work, not by the idle timeout.
  app.post('/v1/delete', { config: { handlerTimeoutMs: 0 } }, async (request): Promise<{ results: DeleteResult[] }> => {
    const body = parseOr400(deleteRequestSchema, request.body);
    if (config.deleteRoots.length === 0) {
      throw new HttpAgentError('DELETE_DISABLED', 'no deleteRoots are configured on this agent');
    }
    const started = performance.now();
    const results = await deletePaths(body.paths, deleteRoots());
    const outcome = results.some((r) => r.status === 'refused') ? 'refused' : 'ok';
    deps.metrics.lightTaskDuration.labels('delete', outcome).observe((performance.now() - started) / 1000);
    const refused = results.filter((r) => r.status === 'refused');
    if (refused.length) request.log.warn({ refused: refused.map((r) => ({ path: r.path, reason: r.reason })) }, 'delete refused');
    return { results };
  });
}
