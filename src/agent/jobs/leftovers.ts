// What an earlier run of the agent left in the spool: results not yet delivered (a controller outage,
// a restart) and jobs cut off mid-run (a crash). Results are delivered; a cut-off job's process tree is
// stopped and its log shipped, and its lease is left to expire so the controller re-delivers it.
import { readdir, readFile } from 'node:fs/promises';
import type { JobsResource } from '../controller-client/jobs.js';
import type { Logger } from '../../shared/log.js';
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
  for (const pgid of await leftTrees(left)) {
    logger.warn({ pid: pgid }, 'stopping a step left running by an earlier run');
    await killTree(pgid, deps.killGraceMs);
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

/**
 * Process groups of steps this attempt left running: every process whose environment names the job and
 * attempt (steps and their children inherit it), by its group (each step leads its own).
 */
async function leftTrees(left: Leftover): Promise<number[]> {
  const groups = new Set<number>();
  const want = [`HTTPAGENT_JOB_ID=${left.meta.id}`, `HTTPAGENT_JOB_ATTEMPT=${left.meta.attempt}`];
  for (const name of await readdir('/proc').catch(() => [] as string[])) {
    const pid = Number(name);
    if (!Number.isInteger(pid) || pid <= 1 || pid === process.pid) continue;
    try {
      const env = (await readFile(`/proc/${pid}/environ`, 'latin1')).split('\0');
      if (!want.every((w) => env.includes(w))) continue;
      const pgid = await groupOf(String(pid));
      // Never our own group (an agent started from inside a job inherits that job's environment).
      if (pgid > 1 && pgid !== (await groupOf('self'))) groups.add(pgid);
    } catch {
      // gone meanwhile, or not ours to read
    }
  }
  return [...groups];
}

/** A process's group: field 5 of its stat (the command name, field 2, may hold spaces, so count after ')'). */
async function groupOf(pid: string): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, 'latin1');
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[2]);
}
