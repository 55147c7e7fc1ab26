// GET /v1/jobs over the job indexes (controller/src/job-list.ts, lua/includes/job-index.lua), against a
// real controller on a private Redis: each filter follows a job through its states (queued → running →
// final, a lost lease back to queued, a revoked agent's jobs re-queued, a cancel), filters combine as an
// intersection, x-total-count counts the matches, and the cursor pages through a batch that shares one
// millisecond without a job shown twice or skipped.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRedis, type PrivateRedis } from '../helpers/redis-server.js';
import { agentBody, call, claimId, startController, type Running } from './controller-harness.js';

let redis: PrivateRedis;
let ctl: Running;

beforeAll(async () => {
  redis = await startRedis();
  ctl = await startController(redis.url, { leaseMs: 60_000 });
});
afterAll(async () => {
  await ctl?.close();
  await redis?.stop();
});

/** Two jobs submitted one after the other may share a millisecond: then id order decides, so compare as sets. */
const set = async (query: string): Promise<string[]> => (await ids(query)).sort();

const ids = async (query: string): Promise<string[]> => {
  const r = await call(ctl.url, 'GET', `/v1/jobs?${query}`);
  expect(r.status, r.text).toBe(200);
  return (r.body as { id: string }[]).map((j) => j.id);
};

async function submit(body: unknown): Promise<string> {
  const r = await call(ctl.url, 'POST', '/v1/jobs', { body });
  expect(r.status, r.text).toBe(201);
  return r.body.id;
}

async function claim(agentId: string, max = 10): Promise<{ id: string; epoch: number }[]> {
  const r = await call(ctl.url, 'POST', '/v1/agent/claim', { body: { agentId, max, waitMs: 0, claimId: claimId() } });
  expect(r.status, r.text).toBe(200);
  return r.body.jobs;
}

describe('GET /v1/jobs filters follow a job through its states', () => {
  it('queued → running → succeeded / failed, cancel, and a revoked agent\'s job back to queued', async () => {
    await call(ctl.url, 'POST', '/v1/agent/register', { body: agentBody('list-a', { pool: 'list', zone: 'z1' }) });
    const [ok, bad, waiting] = [
      await submit({ steps: [{ task: 'build' }, { task: 'ship' }], labels: { pool: 'list', zone: 'z1' } }),
      await submit({ task: 'build', labels: { pool: 'list' } }),
      await submit({ task: 'idle', agent: 'list-nobody' }),
    ];
    expect(await set('state=queued&label=pool=list')).toEqual([bad, ok].sort());
    expect(await ids('task=ship')).toEqual([ok]);
    expect(await ids('task=build&label=zone=z1')).toEqual([ok]);
    expect(await ids('agent=list-nobody')).toEqual([waiting]);

    const claimed = await claim('list-a');
    expect(claimed.map((j) => j.id).sort()).toEqual([ok, bad].sort());
    expect(await set('state=running&label=pool=list')).toEqual([bad, ok].sort());
    expect(await ids('state=queued&label=pool=list')).toEqual([]);
    // The agent that claimed them joins them too.
    expect(await set('agent=list-a')).toEqual([bad, ok].sort());

    const epochOf = (id: string) => claimed.find((j) => j.id === id)!.epoch;
    for (const [id, outcome] of [[ok, 'succeeded'], [bad, 'failed']] as const) {
      const r = await call(ctl.url, 'POST', `/v1/agent/jobs/${id}/complete`, { body: { epoch: epochOf(id), outcome, steps: [], logBytes: 0 } });
      expect(r.status, r.text).toBe(200);
    }
    expect(await ids('state=succeeded&label=pool=list')).toEqual([ok]);
    expect(await ids('state=failed,cancelled&label=pool=list')).toEqual([bad]);
    expect(await ids('state=running&label=pool=list')).toEqual([]);

    expect((await call(ctl.url, 'POST', `/v1/jobs/${waiting}/cancel`)).status).toBe(200);
    expect(await ids('state=cancelled&agent=list-nobody')).toEqual([waiting]);
    expect(await ids('state=queued&agent=list-nobody')).toEqual([]);

    // A job a revoked agent held goes back to queued, in the index too.
    const held = await submit({ task: 'build', labels: { pool: 'list' } });
    expect((await claim('list-a')).map((j) => j.id)).toEqual([held]);
    expect(await ids('state=running&label=pool=list')).toEqual([held]);
    expect((await call(ctl.url, 'DELETE', '/v1/agents/list-a')).body).toMatchObject({ revoked: true, requeued: 1 });
    expect(await ids('state=queued&label=pool=list')).toEqual([held]);
    expect(await ids('state=running&label=pool=list')).toEqual([]);
  });
});

describe('GET /v1/jobs pages', () => {
  it('a batch in one millisecond, 7 at a time: every job once, newest first, and x-total-count', async () => {
    const batch = await call(ctl.url, 'POST', '/v1/jobs', { body: Array.from({ length: 40 }, (_, i) => ({ task: 'page', params: { n: i }, labels: { batch: 'b1' } })) });
    expect(batch.status).toBe(201);
    const all = await ids('label=batch=b1&limit=1000');
    expect(new Set(all)).toEqual(new Set((batch.body as { id: string }[]).map((j) => j.id)));
    const seen: string[] = [];
    let cursor: string | undefined;
    let pages = 0;
    do {
      const r = await call(ctl.url, 'GET', `/v1/jobs?label=batch=b1&limit=7${cursor ? `&cursor=${cursor}` : ''}`);
      expect(r.headers['x-total-count']).toBe('40');
      seen.push(...(r.body as { id: string }[]).map((j) => j.id));
      cursor = r.headers['x-next-cursor'] as string | undefined;
      pages++;
    } while (cursor);
    expect(pages).toBe(6);
    expect(seen).toEqual(all);
    // The same through an intersection (state and label: the smaller index drives), which counts nothing.
    const both: string[] = [];
    cursor = undefined;
    do {
      const r = await call(ctl.url, 'GET', `/v1/jobs?label=batch=b1&state=queued,running&limit=9${cursor ? `&cursor=${cursor}` : ''}`);
      expect(r.headers['x-total-count']).toBeUndefined();
      both.push(...(r.body as { id: string }[]).map((j) => j.id));
      cursor = r.headers['x-next-cursor'] as string | undefined;
    } while (cursor);
    expect(both).toEqual(all);
  });

  it('q pages by cursor past one scan of 5,000 ids, every match once, newest first, with jobs arriving between pages', async () => {
    // 12,000 jobs in batches (each batch one millisecond), so a search spans three scans of the index.
    for (let b = 0; b < 12; b++) {
      const r = await call(ctl.url, 'POST', '/v1/jobs', { body: Array.from({ length: 1000 }, () => ({ task: 'scan' })) });
      expect(r.status, r.text).toBe(201);
    }
    const every = await ids('task=scan&limit=1000'); // newest 1,000, only to pick a common text
    // Two characters: about 1 id in 250 holds them, so 50 matches take more than one scan of 5,000 ids.
    const text = every[0]!.slice(-2);
    const expected: string[] = [];
    let cursor: string | undefined;
    for (;;) {
      const r = await call(ctl.url, 'GET', `/v1/jobs?task=scan&limit=1000${cursor ? `&cursor=${cursor}` : ''}`);
      expected.push(...(r.body as { id: string }[]).map((j) => j.id).filter((id) => id.includes(text)));
      cursor = r.headers['x-next-cursor'] as string | undefined;
      if (!cursor) break;
    }
    const seen: string[] = [];
    cursor = undefined;
    let pages = 0;
    do {
      const r = await call(ctl.url, 'GET', `/v1/jobs?q=${text}&limit=50${cursor ? `&cursor=${cursor}` : ''}`);
      expect(r.status, r.text).toBe(200);
      seen.push(...(r.body as { id: string }[]).map((j) => j.id).filter((id) => expected.includes(id)));
      cursor = r.headers['x-next-cursor'] as string | undefined;
      // Newer jobs shift every rank by one: no id may be shown twice or skipped for it.
      if (pages++ % 3 === 0) await submit({ task: 'arrives' });
    } while (cursor);
    expect(seen).toEqual(expected);
    expect(pages).toBeGreaterThanOrEqual(3); // short pages, each where its scan stopped
  });

  it('q finds ids by the text in them; since/until bound the time; a bad cursor or seconds are refused', async () => {
    const id = await submit({ task: 'findme' });
    expect(await ids(`q=${id.slice(4, 10)}`)).toContain(id);
    expect(await ids(`q=${id.slice(4, 10)}&task=findme`)).toEqual([id]);
    expect(await ids(`task=findme&since=${Date.now() + 60_000}`)).toEqual([]);
    expect(await ids(`task=findme&until=${new Date(Date.now() + 60_000).toISOString()}`)).toEqual([id]);
    for (const bad of ['cursor=nope', 'since=1764000000', 'state=done', 'limit=0']) {
      const r = await call(ctl.url, 'GET', `/v1/jobs?${bad}`);
      expect(r.status, bad).toBe(400);
      expect(r.body.error.code).toBe('BAD_REQUEST');
    }
  });
});
