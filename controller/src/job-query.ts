// GET /v1/jobs over the job indexes (includes/job-events.lua): each filter names a sorted set of job
// ids by creation time, so a page is a range read of one set (O(log n + page)), or of the intersection
// of several built for the request. Only "id contains" scans, and it scans ids inside Redis (ZSCAN MATCH).
import { randomBytes } from 'node:crypto';
import { JOB_CURSOR_PATTERN } from '../../src/shared/protocol/job-list.js';
import { JOB_STATES, type JobState, type JobView } from '../../src/shared/protocol/job.js';
import type { RedisLike } from './commands.js';
import { toJobView } from './job-record.js';
import { jobIndexNames, type Keys } from './keys.js';

/** Every field narrows; absent fields do not. */
export interface JobFilter {
  states?: readonly JobState[] | undefined;
  /** Targeted at this agent, or claimed by it (any attempt). */
  agent?: string | undefined;
  /** The job's target labels include every one of these. */
  labels?: Record<string, string> | undefined;
  /** A step runs this task. */
  task?: string | undefined;
  /** Text the id contains (letters, digits, _ and -: no glob characters reach ZSCAN MATCH). */
  idContains?: string | undefined;
  /** createdAt bounds in ms: since inclusive, until exclusive. */
  since?: number | undefined;
  until?: number | undefined;
}

/** Where a page ended: the createdAt and id of its last job. Pages run newest first. */
export interface JobCursor {
  createdAt: number;
  id: string;
}

export interface JobPage {
  jobs: JobView[];
  /** Where the next page starts; undefined on the last page. */
  next: JobCursor | undefined;
  /** Jobs matching the filter (without the cursor), as the indexes count them. */
  total: number;
}

/** How long an intersection built for one request may outlive it if the request dies half way. */
const TEMP_TTL_MS = 10_000;
const SCAN_COUNT = 20_000;

/** Newest first: a later createdAt, then (same millisecond) the greater id, as ZREVRANGEBYSCORE orders them. */
function before(a: { score: number; id: string }, c: JobCursor): boolean {
  return a.score < c.createdAt || (a.score === c.createdAt && a.id < c.id);
}

function pairs(flat: string[]): { id: string; score: number }[] {
  const out: { id: string; score: number }[] = [];
  for (let i = 0; i + 1 < flat.length; i += 2) out.push({ id: flat[i]!, score: Number(flat[i + 1]) });
  return out;
}

export function createJobQuery(redis: RedisLike, keys: Keys) {
  /** The sets whose intersection is the filter (time and id text aside). */
  const setsFor = (f: JobFilter): { sets: string[]; union: string[] } => {
    const sets: string[] = [];
    let union: string[] = [];
    const states = f.states ? [...new Set(f.states)] : [];
    if (states.length === 1) sets.push(keys.jobsInState(states[0]!));
    else if (states.length > 1 && states.length < JOB_STATES.length) union = states.map((s) => keys.jobsInState(s));
    if (f.agent) sets.push(keys.jobIndex(jobIndexNames.agent(f.agent)));
    if (f.task) sets.push(keys.jobIndex(jobIndexNames.task(f.task)));
    for (const [k, v] of Object.entries(f.labels ?? {})) sets.push(keys.jobIndex(jobIndexNames.label(k, v)));
    if (sets.length === 0 && union.length === 0) sets.push(keys.recent);
    return { sets, union };
  };

  /** Up to `limit` entries of `key` after the cursor, within [since, until). */
  const rangeAfter = async (key: string, f: JobFilter, limit: number, cursor: JobCursor | undefined) => {
    const min = f.since !== undefined ? String(f.since) : '-inf';
    const untilMax = f.until !== undefined ? f.until - 1 : Infinity;
    const top = cursor ? Math.min(cursor.createdAt, untilMax) : untilMax;
    const max = top === Infinity ? '+inf' : String(top);
    const out: { id: string; score: number }[] = [];
    // Entries of the cursor's own millisecond that were already shown are read and dropped; a batch can
    // put thousands in one millisecond, so read on until the page is full.
    for (let offset = 0; out.length < limit; ) {
      const want = limit - out.length + 64;
      const got = pairs(await redis.zrevrangebyscore(key, max, min, 'WITHSCORES', 'LIMIT', offset, want));
      offset += got.length;
      for (const e of got) if (!cursor || before(e, cursor)) out.push(e);
      if (got.length < want) break;
    }
    return out.slice(0, limit);
  };

  /** Every id of `key` containing `text`, within [since, until), newest first. */
  const scanIds = async (key: string, f: JobFilter, text: string) => {
    const found: { id: string; score: number }[] = [];
    let cursor = '0';
    do {
      const [next, flat] = await redis.zscan(key, cursor, 'MATCH', `*${text}*`, 'COUNT', SCAN_COUNT);
      cursor = next;
      for (const e of pairs(flat)) {
        if ((f.since === undefined || e.score >= f.since) && (f.until === undefined || e.score < f.until)) found.push(e);
      }
    } while (cursor !== '0');
    // ZSCAN may return an entry twice (the set was rehashed between calls).
    const unique = [...new Map(found.map((e) => [e.id, e])).values()];
    return unique.sort((a, b) => b.score - a.score || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0));
  };

  const hydrate = async (ids: string[]): Promise<JobView[]> => {
    const hashes = await Promise.all(ids.map((id) => redis.hgetall(keys.job(id))));
    // An index entry whose job expired before the sweeper trimmed it is skipped.
    return hashes.flatMap((h, i) => (h.state ? [toJobView(ids[i]!, h)] : []));
  };

  const list = async (f: JobFilter, limit: number, cursor?: JobCursor): Promise<JobPage> => {
    const { sets, union } = setsFor(f);
    const temps: string[] = [];
    let source: string;
    if (sets.length === 1 && union.length === 0) {
      source = sets[0]!;
    } else {
      const tmp = (what: string) => {
        const k = keys.jobIndex(`tmp:${what}:${randomBytes(8).toString('hex')}`);
        temps.push(k);
        return k;
      };
      const parts = [...sets];
      if (union.length) {
        const u = tmp('u');
        await redis.call('ZUNIONSTORE', u, union.length, ...union, 'AGGREGATE', 'MAX');
        await redis.pexpire(u, TEMP_TTL_MS);
        parts.push(u);
      }
      if (parts.length === 1) {
        source = parts[0]!;
      } else {
        source = tmp('i');
        await redis.call('ZINTERSTORE', source, parts.length, ...parts, 'AGGREGATE', 'MAX');
        await redis.pexpire(source, TEMP_TTL_MS);
      }
    }
    try {
      if (f.idContains) {
        const all = await scanIds(source, f, f.idContains);
        const rest = cursor ? all.filter((e) => before(e, cursor)) : all;
        const page = rest.slice(0, limit);
        const jobs = await hydrate(page.map((e) => e.id));
        const last = page[page.length - 1];
        return { jobs, total: all.length, next: rest.length > limit && last ? { createdAt: last.score, id: last.id } : undefined };
      }
      const [page, total] = await Promise.all([
        rangeAfter(source, f, limit + 1, cursor),
        redis.zcount(source, f.since !== undefined ? String(f.since) : '-inf', f.until !== undefined ? `(${f.until}` : '+inf'),
      ]);
      const shown = page.slice(0, limit);
      const jobs = await hydrate(shown.map((e) => e.id));
      const last = shown[shown.length - 1];
      return { jobs, total, next: page.length > limit && last ? { createdAt: last.score, id: last.id } : undefined };
    } finally {
      if (temps.length) await redis.del(...temps);
    }
  };

  /** How many jobs each state's index holds. */
  const counts = async (): Promise<Record<JobState, number>> => {
    const n = await Promise.all(JOB_STATES.map((s) => redis.zcard(keys.jobsInState(s))));
    return Object.fromEntries(JOB_STATES.map((s, i) => [s, n[i]!])) as Record<JobState, number>;
  };

  return { list, counts };
}
export type JobQuery = ReturnType<typeof createJobQuery>;

/** `createdAt.id`, as x-next-cursor carries it. */
export function formatCursor(c: JobCursor): string {
  return `${c.createdAt}.${c.id}`;
}

export function parseCursor(s: string): JobCursor | undefined {
  const m = JOB_CURSOR_PATTERN.exec(s);
  return m ? { createdAt: Number(m[1]), id: m[2]! } : undefined;
}
