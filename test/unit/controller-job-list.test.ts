// GET /v1/jobs's filter and cursor, and the waiting reason of a queued job, as plain functions.
import { describe, expect, it } from 'vitest';
import { formatCursor, jobMatches, parseCursor } from '../../controller/src/job-filter.js';
import { judgeWaiting, type KnownAgent } from '../../controller/src/waiting-reason.js';
import type { JobView } from '../../src/shared/protocol/job.js';

const job = (over: Partial<JobView> = {}): JobView => ({
  id: 'AbCdEf0123456789',
  state: 'failed',
  attempt: 1,
  maxAttempts: 3,
  agent: 'host-1',
  target: { labels: { role: 'web', zone: 'b' } },
  priority: 0,
  steps: [
    { task: 'init', state: 'succeeded', exitCode: 0, startedAt: null, finishedAt: null },
    { task: 'deploy', state: 'failed', exitCode: 2, startedAt: null, finishedAt: null },
  ],
  createdAt: '2026-01-01T00:00:00.000Z',
  startedAt: null,
  finishedAt: null,
  error: null,
  cancelRequested: false,
  logBytes: 0,
  logTruncated: false,
  idempotencyKey: null,
  ...over,
});

describe('job list filter', () => {
  it('every field narrows; none means all', () => {
    const j = job();
    expect(jobMatches(j, {})).toBe(true);
    expect(jobMatches(j, { states: ['failed', 'cancelled'] })).toBe(true);
    expect(jobMatches(j, { states: ['succeeded'] })).toBe(false);
    expect(jobMatches(j, { labels: { role: 'web' } })).toBe(true);
    expect(jobMatches(j, { labels: { role: 'web', zone: 'a' } })).toBe(false);
    expect(jobMatches(j, { task: 'deploy' })).toBe(true);
    expect(jobMatches(j, { task: 'recycle' })).toBe(false);
    expect(jobMatches(j, { idContains: 'Ef01' })).toBe(true);
    expect(jobMatches(j, { idContains: 'ef01' })).toBe(false);
  });

  it('agent: the one it ran on, or the one it is targeted at', () => {
    expect(jobMatches(job(), { agent: 'host-1' })).toBe(true);
    expect(jobMatches(job({ agent: null, target: { agent: 'host-2' } }), { agent: 'host-2' })).toBe(true);
    expect(jobMatches(job(), { agent: 'host-2' })).toBe(false);
  });

  it('a cursor is createdAt.id and reads back; anything else is no cursor', () => {
    const c = { createdAt: 1764000000123, id: 'AbC-_9' };
    expect(parseCursor(formatCursor(c))).toEqual(c);
    for (const bad of ['', '123', '.abc', '12.ab.cd', 'x.abc', '12.a b']) expect(parseCursor(bad)).toBeUndefined();
  });
});

describe('why a queued job waits', () => {
  const now = 1_000_000;
  const a = (id: string, labels: Record<string, string>, state = 'online', seenAgo = 0): KnownAgent => ({ id, labels, state, lastSeenAt: now - seenAgo });
  const agents = [a('web-1', { role: 'web' }), a('db-1', { role: 'db' }, 'draining'), a('db-2', { role: 'db' }, 'online', 60_000), a('old', { role: 'old' }, 'online', 5_000)];

  it('nothing to say while a matching agent is online', () => {
    expect(judgeWaiting(agents, { labels: { role: 'web' } }, now, 30_000)).toBeUndefined();
    expect(judgeWaiting(agents, { agent: 'web-1' }, now, 30_000)).toBeUndefined();
    expect(judgeWaiting(agents, {}, now, 30_000)).toBeUndefined();
  });

  it('NO_MATCHING_AGENT names the selector', () => {
    expect(judgeWaiting(agents, { labels: { role: 'web', zone: 'a' } }, now, 30_000)).toEqual({ code: 'NO_MATCHING_AGENT', selector: 'role=web,zone=a', message: 'no registered agent has the labels role=web,zone=a' });
    expect(judgeWaiting(agents, { agent: 'ghost' }, now, 30_000)).toMatchObject({ code: 'NO_MATCHING_AGENT', selector: 'agent=ghost' });
    expect(judgeWaiting([], {}, now, 30_000)).toMatchObject({ code: 'NO_MATCHING_AGENT', selector: 'any agent', message: 'no agent is registered with this controller' });
  });

  it('AGENT_OFFLINE when every match is draining or unseen for offlineAfterMs', () => {
    const r = judgeWaiting(agents, { labels: { role: 'db' } }, now, 30_000);
    expect(r).toMatchObject({ code: 'AGENT_OFFLINE', selector: 'role=db' });
    expect(r?.message).toContain('db-1 (draining)');
    expect(r?.message).toContain('db-2 (offline)');
    expect(judgeWaiting(agents, { labels: { role: 'old' } }, now, 1_000)).toMatchObject({ code: 'AGENT_OFFLINE' });
    expect(judgeWaiting(agents, { labels: { role: 'old' } }, now, 30_000)).toBeUndefined();
  });
});
