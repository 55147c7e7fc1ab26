// What each `httpagent job <verb>` does once its arguments are parsed. Results go to stdout (an id, a
// table, JSON); progress and notes to stderr; the exit status is the job's outcome where there is one.
import { randomUUID } from 'node:crypto';
import type { JobSubmit, JobView } from '../shared/protocol/job.js';
import { RETRY } from '../shared/retry-policy.js';
import { withRetry } from '../shared/retry.js';
import { EXIT, InterruptedError, type CliContext, type CliRuntime } from './cli-context.js';
import type { ConsoleOptions } from './cli-options.js';
import { liveRenderer, plainRenderer, silentRenderer, type ProgressRenderer } from './job-progress.js';
import { renderJob, renderJobTable } from './job-render.js';
import { watchJob } from './job-watch.js';

/** The exit status a job's outcome maps to: 0 succeeded, 1 failed, 3 cancelled. */
export function outcomeExit(job: JobView): number {
  return job.state === 'succeeded' ? EXIT.ok : job.state === 'cancelled' ? EXIT.cancelled : EXIT.failed;
}

/** Several outcomes as one status: any failure wins, then any cancellation. */
export function worstExit(jobs: JobView[]): number {
  const codes = jobs.map(outcomeExit);
  return codes.includes(EXIT.failed) ? EXIT.failed : codes.includes(EXIT.cancelled) ? EXIT.cancelled : EXIT.ok;
}

const json = (v: unknown) => `${JSON.stringify(v, null, 2)}\n`;

function note(rt: CliRuntime, o: ConsoleOptions, s: string): void {
  if (!o.quiet) rt.term.err.write(`${s}\n`);
}

/** Watches one job to its end with the renderer that fits stderr; Ctrl-C becomes InterruptedError. */
async function follow(rt: CliRuntime, c: CliContext, id: string, o: ConsoleOptions & { log: boolean }, render?: ProgressRenderer): Promise<JobView> {
  const r = render ?? (o.quiet ? silentRenderer() : rt.term.live ? liveRenderer(rt.term) : plainRenderer(rt.term));
  try {
    return await watchJob({ platform: c.platform, id, render: r, log: o.log, signal: rt.signal });
  } catch (err) {
    r.close();
    if (rt.signal.aborted) throw new InterruptedError([id]);
    throw err;
  }
}

/** Prints the final view (stdout) and returns the outcome's exit status. */
function finish(rt: CliRuntime, o: ConsoleOptions, job: JobView): number {
  rt.term.out.write(o.json ? json(job) : `${job.id} ${job.state}\n`);
  return outcomeExit(job);
}

/**
 * Every submit and retry carries an idempotency key (the console's own random one unless given) and is
 * sent again after a lost reply: the key makes the repeat answer the job the first one queued.
 */
const keyOr = (given: string | undefined) => given ?? `cli-${randomUUID()}`;
const sendRepeatably = <T>(rt: CliRuntime, send: () => Promise<T>) => withRetry(send, { ...RETRY.cliSubmit, signal: rt.signal });

export async function submit(rt: CliRuntime, c: CliContext, job: JobSubmit, o: ConsoleOptions & { wait?: boolean }): Promise<number> {
  // An agent's port would queue the job itself (its own POST /v1/jobs) before its reply could be recognised.
  await c.platform.identify();
  const key = keyOr(job.idempotencyKey);
  const reply = await sendRepeatably(rt, () => c.platform.submit({ ...job, idempotencyKey: key }));
  if (reply.duplicate) note(rt, o, `httpagent: job ${reply.id} was already queued with idempotency key ${key}`);
  if (!o.wait) {
    if (reply.waiting) note(rt, o, `httpagent: job ${reply.id} waits: ${reply.waiting.message} (${reply.waiting.code})`);
    rt.term.out.write(o.json ? json(reply) : `${reply.id}\n`);
    return EXIT.ok;
  }
  return finish(rt, o, await follow(rt, c, reply.id, { ...o, log: true }));
}

export async function retry(rt: CliRuntime, c: CliContext, id: string, o: ConsoleOptions & { wait?: boolean; priority?: number; idempotencyKey?: string }): Promise<number> {
  const key = keyOr(o.idempotencyKey);
  const reply = await sendRepeatably(rt, () => c.platform.retry(id, { idempotencyKey: key, ...(o.priority !== undefined ? { priority: o.priority } : {}) }));
  note(rt, o, `httpagent: job ${reply.id} retries job ${id}${reply.duplicate ? ' (made before, with this idempotency key)' : ''}`);
  if (!o.wait) {
    if (reply.waiting) note(rt, o, `httpagent: job ${reply.id} waits: ${reply.waiting.message} (${reply.waiting.code})`);
    rt.term.out.write(o.json ? json(reply) : `${reply.id}\n`);
    return EXIT.ok;
  }
  return finish(rt, o, await follow(rt, c, reply.id, { ...o, log: true }));
}

export async function status(rt: CliRuntime, c: CliContext, id: string, o: ConsoleOptions): Promise<number> {
  const job = await c.platform.get(id);
  rt.term.out.write(o.json ? json(job) : renderJob(job, rt.term.outPaint));
  return EXIT.ok;
}

export interface ListOptions extends ConsoleOptions {
  state?: string;
  agent?: string;
  label: string[];
  task?: string;
  since?: number;
  until?: number;
  limit: number;
  cursor?: string;
}

export async function list(rt: CliRuntime, c: CliContext, o: ListOptions): Promise<number> {
  const page = await c.platform.list({
    state: o.state,
    agent: o.agent,
    label: o.label.length ? o.label.join(',') : undefined,
    task: o.task,
    since: o.since,
    until: o.until,
    limit: o.limit,
    cursor: o.cursor,
  });
  if (o.json) {
    rt.term.out.write(json({ jobs: page.jobs, nextCursor: page.nextCursor ?? null }));
  } else {
    rt.term.out.write(renderJobTable(page.jobs, rt.term.outPaint));
    if (page.nextCursor) note(rt, o, `more: the same command with --cursor ${page.nextCursor}`);
  }
  return EXIT.ok;
}

export async function wait(rt: CliRuntime, c: CliContext, ids: string[], o: ConsoleOptions & { log?: boolean }): Promise<number> {
  if (ids.length === 1) {
    const job = await follow(rt, c, ids[0]!, { ...o, log: o.log ?? false });
    return finish(rt, o, job);
  }
  // Several at once: a line per change of each (a live line per job would fight over the terminal).
  let jobs: JobView[];
  try {
    jobs = await Promise.all(ids.map((id) => watchJob({ platform: c.platform, id, render: o.quiet ? silentRenderer() : plainRenderer(rt.term), log: false, signal: rt.signal })));
  } catch (err) {
    if (rt.signal.aborted) throw new InterruptedError(ids);
    throw err;
  }
  rt.term.out.write(o.json ? json(jobs) : jobs.map((j) => `${j.id} ${j.state}\n`).join(''));
  return worstExit(jobs);
}

export async function logs(rt: CliRuntime, c: CliContext, id: string, o: ConsoleOptions & { follow?: boolean }): Promise<number> {
  if (!o.follow) {
    for (let offset = 0; ; ) {
      const slice = await c.platform.log(id, offset);
      if (slice.bytes.length === 0) return EXIT.ok;
      rt.term.out.write(slice.bytes);
      offset = slice.nextOffset;
    }
  }
  // The log on stdout as it is written; the outcome on stderr and in the exit status.
  const toStdout: ProgressRenderer = {
    job() {},
    log: (text) => void rt.term.out.write(text),
    done: (job) => note(rt, o, `httpagent: job ${job.id} ${job.state}${job.error ? `: ${job.error}` : ''}`),
    close() {},
  };
  const job = await follow(rt, c, id, { ...o, log: true }, toStdout);
  return outcomeExit(job);
}

export async function cancel(rt: CliRuntime, c: CliContext, ids: string[], o: ConsoleOptions): Promise<number> {
  const replies = [];
  for (const id of ids) {
    const r = await c.platform.cancel(id);
    replies.push(r);
    note(rt, o, r.cancelRequested ? `job ${id}: cancel requested (its agent stops it)` : `job ${id} ${r.state}`);
  }
  if (o.json) rt.term.out.write(json(replies.length === 1 ? replies[0] : replies));
  return EXIT.ok;
}
