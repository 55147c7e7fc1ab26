// The platform's side of the inbox: enqueue (one or a batch, atomically), read, retry, cancel, read logs
// (listing is job-list.ts).
import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import { HttpAgentError, NotFoundError } from '../../src/shared/errors.js';
import { FINAL_STATES, jobStateSchema, type JobSpec, type JobState, type JobView } from '../../src/shared/protocol/job.js';
import type { RedisLike, RunScript } from './commands.js';
import { jobIndexNames, queueFor, type Keys } from './keys.js';
import { jobRecordSchema, toJobView } from './job-record.js';
import type { ScriptArgs, ScriptReply } from './script-contracts.js';
import type { Notifier } from './wake-hub.js';

export interface EnqueueResult {
  id: string;
  state: JobState;
  /** false when an existing job was returned for its idempotency key. */
  created: boolean;
  /** Claimed at once, in the enqueue's own script, by a claim waiting here: it waits for nothing. */
  claimed?: true;
}

export interface JobStoreOptions {
  retentionSec: number;
  defaultMaxAttempts: number;
  /**
   * This controller's notifier (wake-hub.ts): its waiting claims are woken for the jobs it queues as soon
   * as they are committed, and the copy published for the other controllers is marked as its own.
   * Without it every wake goes through pub/sub. With `take`, a single job goes straight to a claim
   * waiting here that can take it, claimed in the enqueue's own script (enqueue-claim-8.lua).
   */
  local?: Pick<Notifier, 'origin' | 'deliver'> & Partial<Pick<Notifier, 'take'>>;
}

/**
 * Bytes per log segment: a job's log is a Redis LIST of segments this long (the last one partial).
 * Must equal LOG_SEGMENT_BYTES in controller/lua/includes/log-segments.lua, which the scripts write with.
 */
export const LOG_SEGMENT_BYTES = 65520;

/** The fields of an existing job's hash a log read needs, in HMGET order. */
const logFieldsSchema = z
  .tuple([jobStateSchema, z.enum(['1']).nullable(), z.string().regex(/^\d+$/).transform(Number)])
  .transform(([state, logTruncated, logKept]) => ({ state, truncated: logTruncated === '1', logKept }));

const ID_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

/**
 * Random, 16 letters and digits (~95 bits): unguessable enough to share in links, and never starting
 * with '-' (a base64url id that did was taken for an option by `httpagent job status ID`).
 */
export function newJobId(): string {
  let id = '';
  while (id.length < 16) {
    for (const b of randomBytes(24)) {
      // 248 = 4 × 62: bytes above it are skipped so every character is equally likely.
      if (b < 248) id += ID_ALPHABET[b % 62];
      if (id.length === 16) break;
    }
  }
  return id;
}

/** A job to queue; `schedule`: the agent's schedule it is a run of (its outcome is filed under it). */
export type EnqueueSpec = JobSpec & { schedule?: { agentId: string; name: string } | undefined };

export function createJobStore(redis: RedisLike, run: RunScript, keys: Keys, opts: JobStoreOptions) {
  const enqueue = async (specs: EnqueueSpec[]): Promise<EnqueueResult[]> => {
    const jobs: ScriptArgs<'enqueue'>['jobs'] = [];
    const wakes = new Map<string, number>();
    for (const spec of specs) {
      const target = { ...(spec.agent ? { agent: spec.agent } : {}), ...(spec.labels && Object.keys(spec.labels).length ? { labels: spec.labels } : {}) };
      const q = queueFor(target);
      wakes.set(q.wake, (wakes.get(q.wake) ?? 0) + 1);
      const tasks = [...new Set(spec.steps.map((st) => st.task))];
      const indexes = [
        ...tasks.map(jobIndexNames.task),
        ...Object.entries(target.labels ?? {}).map(([k, v]) => jobIndexNames.label(k, v)),
        ...(target.agent ? [jobIndexNames.agent(target.agent)] : []),
      ];
      jobs.push({
        id: newJobId(),
        ...(spec.idempotencyKey ? { idem: spec.idempotencyKey } : {}),
        queue: q.queue,
        ...(q.selector ? { selector: q.selector } : {}),
        wake: q.wake,
        priority: spec.priority,
        maxAttempts: spec.maxAttempts ?? opts.defaultMaxAttempts,
        ...(spec.timeoutSec !== undefined ? { timeoutSec: spec.timeoutSec } : {}),
        steps: JSON.stringify(spec.steps),
        stepCount: spec.steps.length,
        target: JSON.stringify(target),
        tasks: tasks.join(','),
        ...(spec.schedule ? { schedule: spec.schedule } : {}),
        indexes,
      });
    }
    const wakeMessage = [...wakes].map(([target, n]) => `${n}\t${target}`).join('\n');
    const published = opts.local ? opts.local.origin + wakeMessage : wakeMessage;
    const args = { wakeChannel: keys.wakeChannel, wakeMessage: published, jobs };
    const enqueueKeys = [keys.base, keys.seq, keys.selectors, keys.recent] as const;
    // One job and a claim waiting here that could take it: the enqueue makes that claim too, saving the
    // claim's own round trip to Redis after the wake-up.
    const taken = jobs.length === 1 ? opts.local?.take?.(jobs[0]!.wake) : undefined;
    let reply: ScriptReply<'enqueue'>;
    let handedNew = false;
    try {
      if (taken) {
        const { agentId, claim } = taken;
        const r = await run('enqueueClaim', [...enqueueKeys, keys.agent(agentId), keys.leases, keys.claimMemo(agentId, claim.claimId), keys.credential(agentId)], { ...args, claim: claim.args }, { agentId });
        // Jobs, or a silent agent (its long-poll ends empty): handed. No claim made, or nothing in it
        // (a drained agent): it waits on.
        if (r.claim && (r.claim.silent || r.claim.jobs.length > 0)) taken.hand(r.claim);
        else taken.giveBack(r.claim?.drained === true);
        handedNew = r.claim?.jobs.some((j) => j.id === r.jobs[0]?.id) ?? false;
        reply = r;
      } else {
        reply = await run('enqueue', [...enqueueKeys], args);
      }
    } catch (err) {
      taken?.giveBack();
      // The script may have committed before the reply was lost: a wake for nothing costs a claim one look.
      opts.local?.deliver(wakeMessage);
      throw err;
    }
    // The script published only if it left something queued; the waiters here hear it now, not a pub/sub hop later.
    if (opts.local && !handedNew && reply.jobs.some((j) => j.created)) opts.local.deliver(wakeMessage);
    return handedNew ? [{ ...reply.jobs[0]!, claimed: true }] : reply.jobs;
  };

  const get = async (id: string): Promise<JobView> => {
    const hash = await redis.hgetall(keys.job(id));
    if (!hash.state) throw new NotFoundError('JOB_NOT_FOUND', `no job ${id}`);
    return toJobView(id, hash);
  };

  /** What a retry of `id` queues: its steps, target, priority, attempts and timeout. Final jobs only. */
  const retrySpec = async (id: string): Promise<JobSpec> => {
    const hash = await redis.hgetall(keys.job(id));
    if (!hash.state) throw new NotFoundError('JOB_NOT_FOUND', `no job ${id}`);
    const rec = jobRecordSchema.parse(hash);
    if (!FINAL_STATES.includes(rec.state)) {
      throw new HttpAgentError('JOB_NOT_FINAL', `job ${id} is ${rec.state}: only a finished job can be retried`, { details: { state: rec.state } });
    }
    return {
      steps: rec.steps,
      agent: rec.target.agent,
      labels: rec.target.labels,
      priority: rec.priority,
      maxAttempts: rec.maxAttempts,
      timeoutSec: rec.timeoutSec ?? undefined,
    };
  };

  /**
   * Records which job a retry made. Written after the enqueue, outside its script: until then the new
   * job shows no retryOf, which costs nothing but the link.
   */
  const markRetry = async (id: string, of: string): Promise<void> => {
    await redis.hset(keys.job(id), 'retryOf', of);
  };

  const cancel = async (id: string): Promise<JobState> => {
    const { state } = await run('cancel', [keys.base, keys.job(id), keys.leases], { jobId: id, retentionSec: opts.retentionSec }, { jobId: id });
    return state;
  };

  /** Bytes [from, to) of a segmented log (store-log.lua): only the segments that hold them are fetched. */
  const readSegments = async (key: string, from: number, to: number): Promise<Buffer> => {
    if (to <= from) return Buffer.alloc(0);
    const first = Math.floor(from / LOG_SEGMENT_BYTES);
    const last = Math.floor((to - 1) / LOG_SEGMENT_BYTES);
    const parts = await redis.lrangeBuffer(key, first, last);
    const start = first * LOG_SEGMENT_BYTES;
    return Buffer.concat(parts).subarray(from - start, to - start);
  };

  /** Up to `max` bytes of the stored log from `offset`, with what the job looks like now. */
  const readLog = async (id: string, offset: number, max: number) => {
    // State first: once a job is final its log is complete, so bytes read after a final state are all of it.
    const fields = await redis.hmget(keys.job(id), 'state', 'logTruncated', 'logKept');
    if (fields[0] === null) throw new NotFoundError('JOB_NOT_FOUND', `no job ${id}`);
    const { state, truncated, logKept } = logFieldsSchema.parse(fields);
    const bytes = await readSegments(keys.log(id), offset, Math.min(offset + max, logKept));
    return { bytes, state, truncated };
  };

  return { enqueue, get, retrySpec, markRetry, cancel, readLog };
}

export type JobStore = ReturnType<typeof createJobStore>;
