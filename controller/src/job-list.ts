// GET /v1/jobs over the job indexes (lua/includes/job-index.lua): each filter names a sorted set of job
// ids by createdAt, so a page is a range read of one set (O(log n + page)). Several filters: the smallest
// of their sets is read newest first in chunks, each chunk checked against the others with one ZMSCORE
// each, until the page is full (a bounded number of entries per request: past it, a short page and a
// cursor). Several states: the states' sets read side by side and merged. "Id contains" reads ids the
// same bounded way (never job records). Pages run newest first; the cursor is the last job shown (or
// examined).
import { jobStateSchema, type JobView } from '../../src/shared/protocol/job.js';
import type { RedisLike } from './commands.js';
import { jobMatches, type JobCursor, type JobFilter } from './job-filter.js';
import { toJobView } from './job-record.js';
import { jobIndexNames, type Keys } from './keys.js';

export interface JobPage {
  jobs: JobView[];
  /** Where the next page starts; undefined on the last page. */
  next: JobCursor | undefined;
  /**
   * Jobs the filter matches (without the cursor), as the indexes count them; undefined where counting
   * would cost more than the page (several filters together).
   */
  total: number | undefined;
}

/** Entries of the driving index one request examines at most when several filters combine, or for `q`. */
export const LIST_SCAN_MAX = 20_000;
/** Entries read (and checked against the other indexes) per round trip. */
const CHUNK = 500;
/**
 * Ids an id search reads per request, in one round trip: every id is random, so each one must be read to
 * be tested. One trip, not two of half as many: at 100,000 jobs the second trip alone put the search past
 * 50 ms (the dashboard figure). A short page answers with a cursor, so a search goes on where it stopped.
 */
export const ID_SCAN_MAX = 5000;
const ID_CHUNK = ID_SCAN_MAX;

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
  /** `sets`: indexes every match is in; `anyOf`: the states' indexes a match is in one of (several states). */
  const planFor = (f: JobFilter): { sets: string[]; anyOf: string[] } => {
    const sets: string[] = [];
    let anyOf: string[] = [];
    const states = f.states ? [...new Set(f.states)] : [];
    if (states.length === 1) sets.push(keys.jobsInState(states[0]!));
    else if (states.length > 1 && states.length < jobStateSchema.options.length) anyOf = states.map((s) => keys.jobsInState(s));
    if (f.agent) sets.push(keys.jobIndex(jobIndexNames.agent(f.agent)));
    if (f.task) sets.push(keys.jobIndex(jobIndexNames.task(f.task)));
    for (const [k, v] of Object.entries(f.labels ?? {})) sets.push(keys.jobIndex(jobIndexNames.label(k, v)));
    if (sets.length === 0 && anyOf.length === 0) sets.push(keys.recent);
    return { sets, anyOf };
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

  /** Which of `entries` are in every one of `sets` and (when given) in one of `anyOf`: one ZMSCORE per set. */
  const members = async (entries: Entry[], sets: string[], anyOf: string[]): Promise<Entry[]> => {
    if (entries.length === 0 || (sets.length === 0 && anyOf.length === 0)) return entries;
    const ids = entries.map((e) => e.id);
    const [all, any] = await Promise.all([
      Promise.all(sets.map((k) => redis.zmscore(k, ...ids))),
      Promise.all(anyOf.map((k) => redis.zmscore(k, ...ids))),
    ]);
    return entries.filter((_e, i) => all.every((s) => s[i] !== null) && (any.length === 0 || any.some((s) => s[i] !== null)));
  };

  /** The job records, pipelined; an index entry whose job expired (or changed since) is left out. */
  const hydrate = async (entries: Entry[], f: JobFilter): Promise<JobView[]> => {
    const hashes = await Promise.all(entries.map((e) => redis.hgetall(keys.job(e.id))));
    return hashes.flatMap((h, i) => {
      if (!h.state) return [];
      const view = toJobView(entries[i]!.id, h);
      return jobMatches(view, f) ? [view] : [];
    });
  };

  const newestFirst = (a: Entry, b: Entry) => b.score - a.score || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0);

  /** `limit` + 1 matches at most (the extra one says a next page exists), or fewer and where the scan stopped. */
  interface Found {
    matches: Entry[];
    /** Set when the scan stopped at its bound before the page filled: the next request resumes after it. */
    stoppedAt?: Entry;
    total: number | undefined;
  }

  /**
   * The smallest of `sets` (or the recent index) read newest first in chunks; each entry kept when
   * `pick` takes it and the other indexes hold it. Stops at limit + 1 matches, or at `scanMax`
   * entries examined (then where it stopped, for the next request to resume from).
   */
  const drive = async (
    f: JobFilter,
    sets: string[],
    anyOf: string[],
    limit: number,
    cursor: JobCursor | undefined,
    pick: (e: Entry) => boolean,
    chunkSize: number,
    scanMax: number,
  ): Promise<Found> => {
    const cards = await Promise.all(sets.map((k) => redis.zcard(k)));
    const driver = sets.length ? sets[cards.indexOf(Math.min(...cards))]! : keys.recent;
    const checks = sets.filter((k) => k !== driver);
    const matches: Entry[] = [];
    let pos = cursor;
    for (let examined = 0; ; ) {
      const chunk = await rangeAfter(driver, f, chunkSize, pos);
      for (const e of await members(chunk.filter(pick), checks, anyOf)) {
        matches.push(e);
        if (matches.length > limit) return { matches, total: undefined };
      }
      examined += chunk.length;
      if (chunk.length < chunkSize) return { matches, total: undefined };
      const last = chunk[chunk.length - 1]!;
      pos = { createdAt: last.score, id: last.id };
      if (examined >= scanMax) return { matches, stoppedAt: last, total: undefined };
    }
  };

  /**
   * An id search over one index with no time range, by rank from the cursor and ids only: half the reply of
   * a read with scores, which the search spends most of its time parsing. Scores are read for the matches
   * and the last id examined alone. A job added meanwhile shifts ranks by one toward the newest (an id seen
   * again, dropped by its score); undefined when the cursor's job has left the index (the score path then
   * finds the place).
   */
  const idScanByRank = async (key: string, text: string, limit: number, cursor: JobCursor | undefined): Promise<Found | undefined> => {
    let start = 0;
    if (cursor) {
      const rank = await redis.zrevrank(key, cursor.id);
      if (rank === null) return undefined;
      start = rank + 1;
    }
    const ids = await redis.zrevrange(key, start, start + ID_SCAN_MAX - 1);
    const hits = ids.filter((id) => id.includes(text));
    // Scores for one page and a few more (ids seen again after a shift are dropped by them), and the last id.
    const scored = hits.slice(0, limit + 1 + 16);
    const last = ids.length === ID_SCAN_MAX ? ids[ids.length - 1]! : undefined;
    const asked = [...scored, ...(last ? [last] : [])];
    if (asked.length === 0) return { matches: [], total: undefined };
    const scores = await redis.zmscore(key, ...asked);
    if (last && scores[scores.length - 1] === null) return undefined;
    const matches: Entry[] = [];
    scored.forEach((id, i) => {
      const score = scores[i];
      if (score === null || score === undefined) return;
      const e = { id, score: Number(score) };
      if (!cursor || olderThan(e, cursor)) matches.push(e);
    });
    if (matches.length > limit) return { matches: matches.slice(0, limit + 1), total: undefined };
    // Fewer than a page from the scored ids while more matched: the careful path reads this stretch again.
    if (scored.length < hits.length) return undefined;
    if (!last) return { matches, total: undefined };
    return { matches, stoppedAt: { id: last, score: Number(scores[scores.length - 1]) }, total: undefined };
  };

  const find = async (f: JobFilter, limit: number, cursor: JobCursor | undefined): Promise<Found> => {
    const { sets, anyOf } = planFor(f);
    const { min, max } = timeRange(f);
    if (f.idContains) {
      // Ids are random: text in them is found only by reading them, newest first, a bounded stretch a request.
      const text = f.idContains;
      if (sets.length === 1 && anyOf.length === 0 && f.since === undefined && f.until === undefined) {
        const quick = await idScanByRank(sets[0]!, text, limit, cursor);
        if (quick) return quick;
      }
      return drive(f, sets, anyOf, limit, cursor, (e) => e.id.includes(text), ID_CHUNK, ID_SCAN_MAX);
    }
    if (sets.length === 1 && anyOf.length === 0) {
      const [matches, total] = await Promise.all([rangeAfter(sets[0]!, f, limit + 1, cursor), redis.zcount(sets[0]!, min, max)]);
      return { matches, total };
    }
    if (sets.length === 0) {
      // Several states alone: each state's index read as far as a page, merged.
      const [lists, counts] = await Promise.all([Promise.all(anyOf.map((k) => rangeAfter(k, f, limit + 1, cursor))), Promise.all(anyOf.map((k) => redis.zcount(k, min, max)))]);
      return { matches: lists.flat().sort(newestFirst).slice(0, limit + 1), total: counts.reduce((a, b) => a + b, 0) };
    }
    // Several filters: the smallest index drives, the others are checked chunk by chunk.
    return drive(f, sets, anyOf, limit, cursor, () => true, CHUNK, LIST_SCAN_MAX);
  };

  const list = async (f: JobFilter, limit: number, cursor?: JobCursor): Promise<JobPage> => {
    const { matches, stoppedAt, total } = await find(f, limit, cursor);
    const shown = matches.slice(0, limit);
    const last = matches.length > limit ? shown[shown.length - 1] : stoppedAt;
    return { jobs: await hydrate(shown, f), total, next: last ? { createdAt: last.score, id: last.id } : undefined };
  };

  return { list };
}

export type JobList = ReturnType<typeof createJobList>;
