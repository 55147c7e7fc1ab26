// Runs one claimed job on this agent: spool directory, log streaming, steps in order (a failed step
// skips the rest), step progress to the controller, and the final result written to disk. Delivering
// that result is the caller's (result-delivery.ts), so a restart can deliver it the same way.
import type { AgentMetrics } from '../agent-metrics.js';
import type { ClaimedJob } from '../../shared/protocol/agent-api.js';
import type { Logger } from '../../shared/log.js';
import type { JobsResource } from '../controller-client/jobs.js';
import type { TaskLauncher } from '../tasks/task-launcher.js';
import { openJobLog, type JobLog } from './job-log.js';
import { startLogStreamer } from './log-streamer.js';
import type { JobSpool, ResultSpool, SpooledResult } from './result-spool.js';
import { createStepProgress, type StepProgressUpdate } from './step-progress.js';
import { runStep, type StepOutcome, type StopReason } from './step-runner.js';

/** Output waiting for the disk beyond this pauses the step's pipes. */
const LOG_HIGH_WATER = 1024 * 1024;

/** Step progress waits this long before it is sent: a short job's complete carries it instead. */
const STEP_PROGRESS_HOLD_MS = 250;

export interface JobRunnerDeps {
  /** Starts each step: its account, clean environment and recorded process group. */
  tasks: TaskLauncher;
  killGraceMs: number;
  stepTimeoutSec: number;
  chunkMaxBytes: number;
  jobs: JobsResource;
  spool: ResultSpool;
  logger: Logger;
  metrics: AgentMetrics;
}

/** stale: another attempt owns the job, nothing is reported · finished: a result is spooled to deliver. */
export type JobEnd =
  | { kind: 'stale' }
  | { kind: 'finished'; spool: JobSpool; log: JobLog; result: SpooledResult; logAcked: number };

export interface JobRun {
  job: ClaimedJob;
  logger: Logger;
  /** Stops the job: its process tree is killed; 'stale' also drops its result. */
  stop(reason: StopReason): void;
  readonly stopReason: StopReason | undefined;
  /** The running step's process group leader, if a step is running. */
  readonly pid: number | undefined;
  done: Promise<JobEnd>;
}

export function startJobRun(job: ClaimedJob, deps: JobRunnerDeps): JobRun {
  const logger = deps.logger.child({ jobId: job.id, attempt: job.attempt, epoch: job.epoch });
  const abort = new AbortController();
  let why: StopReason | undefined;
  let pid: number | undefined;
  const run: JobRun = {
    job,
    logger,
    stop(reason) {
      // 'stale' outranks an earlier cancel: once the lease is gone nothing may be reported.
      if (why === 'stale' || (why && reason !== 'stale')) return;
      why = reason;
      if (!abort.signal.aborted) abort.abort(reason);
    },
    get stopReason() {
      return why;
    },
    get pid() {
      return pid;
    },
    done: undefined as unknown as Promise<JobEnd>,
  };
  run.done = execute(job, deps, { logger, signal: abort.signal, reason: () => why, stop: (r) => run.stop(r), setPid: (p) => (pid = p) });
  return run;
}

/** How execute() talks back to its JobRun. */
interface RunControl {
  logger: Logger;
  signal: AbortSignal;
  reason(): StopReason | undefined;
  stop(reason: StopReason): void;
  setPid(pid: number | undefined): void;
}

async function execute(job: ClaimedJob, deps: JobRunnerDeps, ctl: RunControl): Promise<JobEnd> {
  const { logger, signal, reason, stop, setPid } = ctl;
  const spool = await deps.spool.create({ id: job.id, epoch: job.epoch, attempt: job.attempt, claimedAt: new Date().toISOString() });
  const log = await openJobLog(spool.logPath);
  const streamer = startLogStreamer({
    log,
    send: (offset, bytes) => deps.jobs.appendLog(job.id, job.epoch, offset, bytes),
    startOffset: 0,
    chunkMaxBytes: deps.chunkMaxBytes,
    logger,
    onStale: () => stop('stale'),
    onCancel: () => stop('cancel'),
  });

  const progress = createStepProgress((u) => deps.jobs.step(job.id, { epoch: job.epoch, ...u }), () => stop('stale'), logger, STEP_PROGRESS_HOLD_MS);
  const report = (u: StepProgressUpdate) => progress.report(u);

  const started = Date.now();
  const deadline = job.timeoutSec ? started + job.timeoutSec * 1000 : Infinity;
  const outcomes: StepOutcome[] = [];
  const total = job.steps.length;
  logger.info({ steps: job.steps.map((s) => s.task) }, 'job started');

  for (const [index, step] of job.steps.entries()) {
    if (signal.aborted || outcomes.some((o) => o.state !== 'succeeded')) break;
    const stepMs = (step.timeoutSec ?? deps.stepTimeoutSec) * 1000;
    const left = deadline - Date.now();
    const byJob = left < stepMs;
    const label = `step ${index + 1}/${total} ${step.task}`;
    log.append(`==> ${label}\n`);
    report({ index, state: 'running', startedAt: new Date().toISOString() });
    const outcome = await runStep({
      tasks: deps.tasks,
      step,
      index,
      jobId: job.id,
      attempt: job.attempt,
      timeoutMs: byJob ? left : stepMs,
      timeoutError: byJob ? `job timed out after ${job.timeoutSec}s` : `step ${index + 1} (${step.task}) timed out after ${stepMs / 1000}s`,
      killGraceMs: deps.killGraceMs,
      signal,
      output: (bytes) => {
        log.append(bytes);
        return log.queued > LOG_HIGH_WATER ? log.drained() : undefined;
      },
      // No pid file: a restarted agent finds a tree left running by the job id in its environment.
      onSpawn: (pid) => setPid(pid),
    });
    setPid(undefined);
    outcomes.push(outcome);
    const secs = (Date.parse(outcome.finishedAt) - Date.parse(outcome.startedAt)) / 1000;
    log.append(`==> ${label} ${outcome.state}${outcome.exitCode !== null ? ` (exit ${outcome.exitCode})` : ''}${outcome.signal ? ` (${outcome.signal})` : ''} in ${secs.toFixed(2)}s\n`);
    deps.metrics.stepsTotal.inc({ outcome: outcome.state });
    deps.metrics.stepDuration.observe({ task: step.task, outcome: outcome.state }, secs);
    report({ index, state: outcome.state, exitCode: outcome.exitCode, signal: outcome.signal, startedAt: outcome.startedAt, finishedAt: outcome.finishedAt });
    logger.debug({ step: index, task: step.task, state: outcome.state, exitCode: outcome.exitCode, signal: outcome.signal }, 'step ended');
  }
  progress.close();

  const why = reason();
  if (why === 'stale') {
    await streamer.stop();
    await log.close();
    await spool.remove();
    deps.metrics.jobsTotal.inc({ outcome: 'stale' });
    logger.warn('job dropped: its lease moved to another attempt');
    return { kind: 'stale' };
  }

  const failed = outcomes.find((o) => o.state === 'failed');
  const cancelled = why !== undefined || outcomes.some((o) => o.state === 'cancelled');
  const outcome = cancelled ? 'cancelled' : failed ? 'failed' : 'succeeded';
  const error = cancelled ? (why === 'shutdown' ? 'the agent shut down before the job finished' : 'cancelled') : (failed?.error ?? null);
  const steps = job.steps.map((_, i) => {
    const o = outcomes[i];
    if (o) return { state: o.state, exitCode: o.exitCode, signal: o.signal, startedAt: o.startedAt, finishedAt: o.finishedAt };
    return { state: cancelled ? ('cancelled' as const) : ('skipped' as const), exitCode: null, signal: null, startedAt: null, finishedAt: null };
  });
  if (error && outcome !== 'succeeded') log.append(`==> job ${outcome}: ${error}\n`);
  const logBytes = await log.flush();
  await streamer.stop();
  const result: SpooledResult = { epoch: job.epoch, outcome, error, steps, logBytes };
  // On disk before anything is sent: a crash or an outage from here on loses nothing.
  await spool.writeResult(result);
  deps.metrics.jobsTotal.inc({ outcome });
  logger.info({ outcome, error, logBytes, ms: Date.now() - started }, 'job ended');
  return { kind: 'finished', spool, log, result, logAcked: streamer.acked };
}
