// GET /v1/jobs over the job indexes (lua/includes/job-index.lua): each filter names a sorted set of job
// ids by createdAt, so a page is a range read of one set (O(log n + page)), or of the intersection of
// several, built for the request and dropped after it. Only "id contains" scans, and it scans ids inside
// Redis (ZSCAN MATCH), never job records. Pages run newest first; the cursor is the last job shown.
import { randomBytes } from 'node:crypto';
import { jobStateSchema, type JobView } from '../../src/shared/protocol/job.js';
import type { RedisLike } from './commands.js';
import { jobMatches, type JobCursor, type JobFilter } from './job-filter.js';
import { toJobView } from './job-record.js';
import { jobIndexNames, type Keys } from './keys.js';

export interface JobPage {
  jobs: JobView[];
  /** Where the next page starts; undefined on the last page. */
  next: JobCursor | undefined;
  /** Jobs the filter matches (without the cursor), as the indexes count them. */
  total: number;
}

/** How long a set built for one request may outlive it, should the request die half way. */
const TEMP_TTL_MS = 10_000;
/** Entries one ZSCAN call looks at: 100,000 ids take five round trips. */
const SCAN_COUNT = 20_000;

interface Entry {
  id: string;
  score: number;
}

/** Newest first: a later createdAt, then (same millisecond) the greater id, as ZREVRANGEBYSCORE orders them. */
function olderThan(e: Entry, c: JobCursor): boolean {
  return e.score < c.createdAt || (e.score === c.createdAt && e.id < c.id);
}

function pairs(flat: string[]): Entry[] {
  const out: Entry[] = [];
  for (let i = 0; i + 1 < flat.length; i += 2) out.push({ id: flat[i]!, score: Number(flat[i + 1]) });
  return out;
}

export function createJobList(redis: RedisLike, keys: Keys) {
  /** The sets whose intersection is the filter (time and id text aside); `union`: states to merge first. */
  const setsFor = (f: JobFilter): { sets: string[]; union: string[] } => {
    const sets: string[] = [];
    let union: string[] = [];
    const states = f.states ? [...new Set(f.states)] : [];
    if (states.length === 1) sets.push(keys.jobsInState(states[0]!));
    else if (states.length > 1 && states.length < jobStateSchema.options.length) union = states.map((s) => keys.jobsInState(s));
    if (f.agent) sets.push(keys.jobIndex(jobIndexNames.agent(f.agent)));
    if (f.task) sets.push(keys.jobIndex(jobIndexNames.task(f.task)));
    for (const [k, v] of Object.entries(f.labels ?? {})) sets.push(keys.jobIndex(jobIndexNames.label(k, v)));
    if (sets.length === 0 && union.length === 0) sets.push(keys.recent);
    return { sets, union };
  };

  const timeRange = (f: JobFilter) => ({ min: f.since !== undefined ? String(f.since) : '-inf', max: f.until !== undefined ? `(${f.until}` : '+inf' });

  /** Up to `limit` entries of `key` older than the cursor, within [since, until). */
  const rangeAfter = async (key: string, f: JobFilter, limit: number, cursor: JobCursor | undefined): Promise<Entry[]> => {
    const { min } = timeRange(f);
    const untilMax = f.until !== undefined ? f.until - 1 : Infinity;
    const top = cursor ? Math.min(cursor.createdAt, untilMax) : untilMax;
    const max = top === Infinity ? '+inf' : String(top);
    const out: Entry[] = [];
    // Entries of the cursor's own millisecond already shown are read and dropped; a batch can put
    // thousands in one millisecond, so read on until the page is full.
    for (let offset = 0; out.length < limit; ) {
      const want = limit - out.length + 64;
      const got = pairs(await redis.zrevrangebyscore(key, max, min, 'WITHSCORES', 'LIMIT', offset, want));
      offset += got.length;
      for (const e of got) if (!cursor || olderThan(e, cursor)) out.push(e);
      if (got.length < want) break;
    }
    return out.slice(0, limit);
  };

  /** Every id of `key` containing `text`, within [since, until), newest first. */
  const scanIds = async (key: string, f: JobFilter, text: string): Promise<Entry[]> => {
    const found = new Map<string, Entry>();
    let cursor = '0';
    do {
      const [next, flat] = await redis.zscan(key, cursor, 'MATCH', `*${text}*`, 'COUNT', SCAN_COUNT);
      cursor = next;
      // ZSCAN may return an entry twice (the set was rehashed between calls): the map keeps one.
      for (const e of pairs(flat)) if ((f.since === undefined || e.score >= f.since) && (f.until === undefined || e.score < f.until)) found.set(e.id, e);
    } while (cursor !== '0');
    return [...found.values()].sort((a, b) => b.score - a.score || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0));
  };

  /** The job records, pipelined; an index entry whose job expired (or changed since) is left out. */
  const hydrate = async (ids: string[], f: JobFilter): Promise<JobView[]> => {
    const hashes = await Promise.all(ids.map((id) => redis.hgetall(keys.job(id))));
    return hashes.flatMap((h, i) => {
      if (!h.state) return [];
      const view = toJobView(ids[i]!, h);
      return jobMatches(view, f) ? [view] : [];
    });
  };

  const list = async (f: JobFilter, limit: number, cursor?: JobCursor): Promise<JobPage> => {
    const { sets, union } = setsFor(f);
    const temps: string[] = [];
    const temp = (what: string) => {
      const k = keys.jobIndex(`tmp:${what}:${randomBytes(8).toString('hex')}`);
      temps.push(k);
      return k;
    };
    try {
      const parts = [...sets];
      if (union.length) {
        const u = temp('u');
        await redis.call('ZUNIONSTORE', u, union.length, ...union, 'AGGREGATE', 'MAX');
        await redis.pexpire(u, TEMP_TTL_MS);
        parts.push(u);
      }
      let source = parts[0]!;
      if (parts.length > 1) {
        source = temp('i');
        await redis.call('ZINTERSTORE', source, parts.length, ...parts, 'AGGREGATE', 'MAX');
        await redis.pexpire(source, TEMP_TTL_MS);
      }
      if (f.idContains) {
        const all = await scanIds(source, f, f.idContains);
        const rest = cursor ? all.filter((e) => olderThan(e, cursor)) : all;
        const page = rest.slice(0, limit);
        const last = page[page.length - 1];
        return { jobs: await hydrate(page.map((e) => e.id), f), total: all.length, next: rest.length > limit && last ? { createdAt: last.score, id: last.id } : undefined };
      }
      const { min, max } = timeRange(f);
      const [page, total] = await Promise.all([rangeAfter(source, f, limit + 1, cursor), redis.zcount(source, min, max)]);
      const shown = page.slice(0, limit);
      const last = shown[shown.length - 1];
      return { jobs: await hydrate(shown.map((e) => e.id), f), total, next: page.length > limit && last ? { createdAt: last.score, id: last.id } : undefined };
    } finally {
      if (temps.length) await redis.del(...temps);
    }
  };

  return { list };
}

export type JobList = ReturnType<typeof createJobList>;
