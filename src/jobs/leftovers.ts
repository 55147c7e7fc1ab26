// What an earlier run of the agent left in the spool: results not yet delivered (a controller outage,
// a restart) and jobs cut off mid-run (a crash). Results are delivered; a cut-off job's process tree is
// stopped and its log shipped, and its lease is left to expire so the controller re-delivers it.
import { readFile } from 'node:fs/promises';
import type { JobsResource } from '../controller-client/jobs.js';
import type { Logger } from '../log.js';
import { killTree } from '../tasks/task-process.js';
import { openJobLog } from './job-log.js';
import { shipAll } from './log-streamer.js';
import { deliverResult } from './result-delivery.js';
import type { Leftover } from './result-spool.js';

export interface LeftoverDeps {
  jobs: JobsResource;
  chunkMaxBytes: number;
  killGraceMs: number;
  logger: Logger;
  signal: AbortSignal;
}

export async function handleLeftover(left: Leftover, deps: LeftoverDeps): Promise<void> {
  const logger = deps.logger.child({ jobId: left.meta.id, attempt: left.meta.attempt, epoch: left.meta.epoch, leftover: true });
  const log = await openJobLog(left.logPath);
  if (left.result) {
    logger.info({ outcome: left.result.outcome }, 'delivering a result spooled by an earlier run');
    await deliverResult({ spool: left, log, result: left.result, logAcked: 0 }, { jobs: deps.jobs, chunkMaxBytes: deps.chunkMaxBytes, logger, signal: deps.signal });
    return;
  }
  if (left.pid && (await runsJob(left.pid, left.meta.id))) {
    logger.warn({ pid: left.pid }, 'stopping a step left running by an earlier run');
    await killTree(left.pid, deps.killGraceMs);
  }
  try {
    // Best effort, bounded: the output helps whoever looks at the failed attempt.
    await shipAll({
      log,
      send: (offset, bytes) => deps.jobs.appendLog(left.meta.id, left.meta.epoch, offset, bytes),
      from: 0,
      chunkMaxBytes: deps.chunkMaxBytes,
      signal: AbortSignal.any([deps.signal, AbortSignal.timeout(10_000)]),
      logger,
    });
  } catch (err) {
    logger.debug({ err }, 'log of an interrupted attempt not shipped');
  }
  await log.close();
  await left.remove();
}

/** The pid may have been reused since: only a process carrying the job's id in its environment is ours. */
async function runsJob(pid: number, jobId: string): Promise<boolean> {
  try {
    const env = await readFile(`/proc/${pid}/environ`, 'latin1');
    return env.split('\0').includes(`HTTPAGENT_JOB_ID=${jobId}`);
  } catch {
    return false;
  }
}
