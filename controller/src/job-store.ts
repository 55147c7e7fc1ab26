// The platform's side of the inbox: enqueue (one or a batch, atomically), read, list, cancel, read logs.
import { randomBytes } from 'node:crypto';
import { HttpAgentError, NotFoundError } from '../../src/shared/errors.js';
import { FINAL_STATES, type JobSpec, type JobState, type JobView } from '../../src/shared/protocol/job.js';
import type { RedisLike, RunScript } from './commands.js';
import { jobMatches, type JobCursor, type JobFilter } from './job-filter.js';
import { queueFor, type Keys } from './keys.js';
import { jobRecordSchema, toJobView } from './job-record.js';
import { expectOk } from './script-errors.js';

export interface EnqueueResult {
  id: string;
  state: JobState;
  /** false when an existing job was returned for its idempotency key. */
  created: boolean;
}

/** A page of GET /v1/jobs, and where the next one starts (undefined: nothing older is left). */
export interface JobPage {
  jobs: JobView[];
  next: JobCursor | undefined;
}

/**
 * Jobs one list request examines at most: a filter that matches rarely answers a short page with a
 * cursor rather than reading a week of jobs in one request.
 */
export const LIST_SCAN_MAX = 5000;
const LIST_BATCH = 250;

export interface JobStoreOptions {
  retentionSec: number;
  defaultMaxAttempts: number;
}

/**
 * Bytes per log segment: a job's log is a Redis LIST of segments this long (the last one partial).
 * Must equal LOG_SEGMENT_BYTES in controller/lua/includes/store-log.lua, which writes them.
 */
export const LOG_SEGMENT_BYTES = 65520;

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

export function createJobStore(redis: RedisLike, run: RunScript, keys: Keys, opts: JobStoreOptions) {
  const enqueue = async (specs: JobSpec[]): Promise<EnqueueResult[]> => {
    const args: (string | number)[] = [];
    const wakes = new Map<string, number>();
    for (const spec of specs) {
      const target = { ...(spec.agent ? { agent: spec.agent } : {}), ...(spec.labels && Object.keys(spec.labels).length ? { labels: spec.labels } : {}) };
      const q = queueFor(target);
      wakes.set(q.wake, (wakes.get(q.wake) ?? 0) + 1);
      args.push(
        newJobId(),
        spec.idempotencyKey ?? '',
        q.queue,
        q.selector,
        q.wake,
        spec.priority,
        spec.maxAttempts ?? opts.defaultMaxAttempts,
        spec.timeoutSec ?? '',
        spec.steps.length,
        JSON.stringify(spec.steps),
        JSON.stringify(target),
      );
    }
    const wake = [...wakes].map(([target, n]) => `${n}\t${target}`).join('\n');
    const reply = (await run('enqueue', [keys.base, keys.seq, keys.selectors, keys.recent], [keys.wakeChannel, wake, specs.length, ...args])) as (string | number)[];
    const out: EnqueueResult[] = [];
    for (let i = 0; i < reply.length; i += 3) {
      out.push({ id: String(reply[i]), state: String(reply[i + 1]) as JobState, created: Number(reply[i + 2]) === 1 });
    }
    return out;
  };

  const get = async (id: string): Promise<JobView> => {
    const hash = await redis.hgetall(keys.job(id));
    if (!hash.state) throw new NotFoundError('JOB_NOT_FOUND', `no job ${id}`);
    return toJobView(id, hash);
  };

  /**
   * Newest first through the recent index (score createdAt), from the cursor or the top of the time
   * range. The scan position is a score plus how many entries of exactly that score were read: ids
   * created in the same millisecond (a batch) share a score, and new jobs arriving at the top of the
   * index do not shift it.
   */
  const list = async (filter: JobFilter, limit: number, cursor?: JobCursor): Promise<JobPage> => {
    const min = filter.since !== undefined ? String(filter.since) : '-inf';
    let max = filter.until !== undefined ? `(${filter.until}` : '+inf';
    let skip = 0;
    if (cursor && (filter.until === undefined || cursor.createdAt < filter.until)) {
      const [rank, score] = await Promise.all([redis.zrevrank(keys.recent, cursor.id), redis.zscore(keys.recent, cursor.id)]);
      if (rank !== null && Number(score) === cursor.createdAt) {
        const above = await redis.zcount(keys.recent, `(${cursor.createdAt}`, '+inf');
        max = String(cursor.createdAt);
        skip = rank - above + 1;
      } else {
        // The cursor's job expired since: go on below its millisecond (its same-millisecond siblings are passed over).
        max = `(${cursor.createdAt}`;
      }
    }
    const jobs: JobView[] = [];
    let scanned = 0;
    for (;;) {
      const flat = await redis.zrevrangebyscore(keys.recent, max, min, 'WITHSCORES', 'LIMIT', skip, LIST_BATCH);
      const ids: string[] = [];
      const scores: number[] = [];
      for (let i = 0; i < flat.length; i += 2) {
        ids.push(flat[i]!);
        scores.push(Number(flat[i + 1]));
      }
      const hashes = await Promise.all(ids.map((id) => redis.hgetall(keys.job(id))));
      for (let i = 0; i < ids.length; i++) {
        scanned++;
        const h = hashes[i]!;
        // A job whose record expired before the index was trimmed is skipped.
        if (h.state) {
          const view = toJobView(ids[i]!, h);
          if (jobMatches(view, filter)) jobs.push(view);
        }
        if (jobs.length >= limit || scanned >= LIST_SCAN_MAX) return { jobs, next: { createdAt: scores[i]!, id: ids[i]! } };
      }
      if (ids.length < LIST_BATCH) return { jobs, next: undefined };
      const lowest = scores[scores.length - 1]!;
      const readAtLowest = scores.filter((x) => x === lowest).length;
      skip = max === String(lowest) ? skip + readAtLowest : readAtLowest;
      max = String(lowest);
    }
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
    const [state] = expectOk(await run('cancel', [keys.base, keys.job(id), keys.leases], [id, opts.retentionSec]), { jobId: id });
    return String(state) as JobState;
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
    const [state, truncated, counted, kept] = await redis.hmget(keys.job(id), 'state', 'logTruncated', 'logBytes', 'logKept');
    if (!state) throw new NotFoundError('JOB_NOT_FOUND', `no job ${id}`);
    let bytes: Buffer;
    if (kept === null) {
      // Nothing stored yet, or a log written by an older controller as one string.
      bytes = Number(counted ?? 0) > 0 ? await redis.getrangeBuffer(keys.log(id), offset, offset + max - 1) : Buffer.alloc(0);
    } else {
      bytes = await readSegments(keys.log(id), offset, Math.min(offset + max, Number(kept)));
    }
    return { bytes, state: state as JobState, truncated: truncated === '1' };
  };

  return { enqueue, get, list, retrySpec, markRetry, cancel, readLog };
}

export type JobStore = ReturnType<typeof createJobStore>;
