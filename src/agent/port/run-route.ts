// POST /v1/run: an allow-listed task run synchronously in the bounded light-task pool.
import type { FastifyInstance } from 'fastify';
import { ValidationError } from '../../shared/errors.js';
import { inputIssue, invalidInput, parseOr400 } from '../../shared/http/validate.js';
import { runLightTask, type LightTaskResult } from '../tasks/run-light-task.js';
import type { RouteContext } from './route-context.js';
import { runRequestSchema } from './schemas.js';

export function registerRunRoute(app: FastifyInstance, { config, deps, runPool }: RouteContext): void {
  // Silent while queued and running: bounded by runTimeoutSec and the pool, not by the idle timeout.
  app.post('/v1/run', { config: { handlerTimeoutMs: 0 } }, async (request, reply): Promise<LightTaskResult> => {
    const body = parseOr400(runRequestSchema, request.body);
    if (body.timeoutSec !== undefined && body.timeoutSec > config.runTimeoutSec) {
      throw invalidInput('body', [inputIssue('timeoutSec', 'too_big', `at most ${config.runTimeoutSec} on this agent (runTimeoutSec)`)]);
    }
    // Fail an unknown task, or a root task this agent cannot run, before it takes a place in the queue.
    deps.tasks.check(body.task);

    // A caller that hangs up stops its task, queued or running, instead of leaving work nobody reads.
    // The agent's shutdown stops it too: a listener removed below, not AbortSignal.any, whose dependants
    // of a long-lived signal pile up in some node versions (nodejs/node#55351).
    const gone = new AbortController();
    const stop = new AbortController();
    reply.raw.on('close', () => {
      if (reply.raw.writableFinished) return;
      gone.abort();
      stop.abort();
    });
    const onShutdown = () => stop.abort();
    if (deps.shutdown?.aborted) stop.abort();
    else deps.shutdown?.addEventListener('abort', onShutdown, { once: true });

    const started = performance.now();
    let outcome = 'error';
    try {
      const result = await runPool.run(async () => {
        if (gone.signal.aborted) throw new ValidationError('caller went away before the task started');
        return runLightTask({
          tasks: deps.tasks,
          task: body.task,
          params: body.params,
          timeoutMs: (body.timeoutSec ?? config.runTimeoutSec) * 1000,
          killGraceMs: Math.min(config.killGraceMs, 5000),
          outputCapBytes: config.outputCapBytes,
          signal: stop.signal,
        });
      });
      outcome = result.timedOut ? 'timeout' : result.exitCode === 0 ? 'ok' : 'failed';
      return result;
    } catch (err) {
      if ((err as { code?: string }).code === 'OVERLOADED') outcome = 'overloaded';
      throw err;
    } finally {
      deps.shutdown?.removeEventListener('abort', onShutdown);
      deps.metrics.lightTaskDuration.labels('run', outcome).observe((performance.now() - started) / 1000);
    }
  });
}
