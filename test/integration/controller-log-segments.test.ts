// A job's log stored as a list of fixed-size segments: reads at any offset across segment boundaries,
// chunks that straddle them, the per-job cap, retention of the log key.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { luaDir } from '../../controller/src/commands.js';
import { LOG_SEGMENT_BYTES } from '../../controller/src/job-store.js';
import { createKeys } from '../../controller/src/keys.js';
import { startRedis, type PrivateRedis } from '../helpers/redis-server.js';
import { waitUntil } from '../helpers/wait.js';
import { agentBody, call, claimId, startController, type Running } from './controller-harness.js';

const SEG = LOG_SEGMENT_BYTES;
const CAP = 3 * SEG + 1000;

let redis: PrivateRedis;
let c: Running;

beforeAll(async () => {
  redis = await startRedis();
  c = await startController(redis.url, { logCapBytes: CAP, retentionSec: 3600, logChunkMaxBytes: 4 * 1024 * 1024 });
});
afterAll(async () => {
  await c?.close();
  await redis?.stop();
});

let n = 0;
/** A running job (one attempt) on a fresh agent. */
async function runningJob(): Promise<{ id: string; epoch: number; agent: string }> {
  const agent = `seg-agent-${++n}`;
  expect((await call(c.url, 'POST', '/v1/agent/register', { body: agentBody(agent, {}) })).status).toBe(200);
  const { id } = (await call(c.url, 'POST', '/v1/jobs', { body: { task: 'noop', agent } })).body;
  const got = await call(c.url, 'POST', '/v1/agent/claim', { body: { agentId: agent, max: 1, waitMs: 0, claimId: claimId() } });
  return { id, epoch: got.body.jobs[0].epoch, agent };
}
const appendLog = (id: string, epoch: number, offset: number, bytes: Buffer) =>
  call(c.url, 'POST', `/v1/agent/jobs/${id}/log?epoch=${epoch}&offset=${offset}`, { raw: bytes, contentType: 'application/octet-stream' });
const complete = (id: string, epoch: number, logBytes: number) =>
  call(c.url, 'POST', `/v1/agent/jobs/${id}/complete`, { body: { epoch, outcome: 'succeeded', steps: [], logBytes } });

async function getLog(id: string, offset: number): Promise<{ bytes: Buffer; next: number; truncated: string | null }> {
  const res = await fetch(`${c.url}/v1/jobs/${id}/log?offset=${offset}`, { headers: { authorization: `Bearer ${c.config.platformToken}` } });
  expect(res.status).toBe(200);
  return { bytes: Buffer.from(await res.arrayBuffer()), next: Number(res.headers.get('x-log-next-offset')), truncated: res.headers.get('x-log-truncated') };
}

/** Bytes whose every position is recognisable (no period that divides a segment). */
function pattern(length: number, seed = 0): Buffer {
  const b = Buffer.alloc(length);
  for (let i = 0; i < length; i++) b[i] = (i * 7 + Math.floor(i / 251) + seed) & 0xff;
  return b;
}

describe('segmented job logs', () => {
  it('the segment size the Lua script writes is the one the reader uses', () => {
    const lua = readFileSync(join(luaDir, 'includes', 'log-segments.lua'), 'utf8');
    expect(Number(/^local LOG_SEGMENT_BYTES = (\d+)$/m.exec(lua)?.[1])).toBe(SEG);
  });

  it('chunks of odd sizes straddling segment boundaries read back exactly from any offset', async () => {
    const { id, epoch } = await runningJob();
    const all = pattern(2 * SEG + 5000);
    // Small, exactly-to-the-boundary, straddling and multi-segment chunks, plus a resent overlap.
    const cuts = [0, 10, 333, SEG, SEG + 1, SEG + 40_000, 2 * SEG + 5000];
    for (let i = 0; i + 1 < cuts.length; i++) {
      const r = await appendLog(id, epoch, cuts[i]!, all.subarray(cuts[i]!, cuts[i + 1]!));
      expect(r.body.offset).toBe(cuts[i + 1]);
    }
    expect((await appendLog(id, epoch, SEG - 7, all.subarray(SEG - 7, SEG + 9))).body.offset).toBe(all.length);
    const admin = redis.client();
    try {
      const keys = createKeys(c.config.keyPrefix);
      expect(await admin.type(keys.log(id))).toBe('list');
      expect(await admin.llen(keys.log(id))).toBe(3);
      expect(await admin.hget(keys.job(id), 'logKept')).toBe(String(all.length));
    } finally {
      admin.disconnect();
    }
    for (const offset of [0, 1, SEG - 1, SEG, SEG + 1, 2 * SEG - 3, 2 * SEG, all.length - 1, all.length, all.length + 50]) {
      const got = await getLog(id, offset);
      expect(got.bytes.equals(all.subarray(offset)), `offset ${offset}`).toBe(true);
      expect(got.next).toBe(offset + got.bytes.length);
    }
  });

  it('one chunk spanning several segments reads back whole after complete', async () => {
    const { id, epoch } = await runningJob();
    const all = pattern(CAP - 10, 3);
    expect((await appendLog(id, epoch, 0, all)).body.offset).toBe(all.length);
    expect((await complete(id, epoch, all.length)).body).toMatchObject({ accepted: true });
    const got = await getLog(id, 0);
    expect(got.bytes.equals(all)).toBe(true);
  });

  it('keeps bytes up to the cap across segments, counts the rest, and the attempt marker starts a retry', async () => {
    const { id, epoch, agent } = await runningJob();
    const first = pattern(3 * SEG - 100, 5);
    expect((await appendLog(id, epoch, 0, first)).body.offset).toBe(first.length);
    // Lease lost: the next attempt's marker lands after the first attempt's bytes, still under the cap.
    const admin = redis.client();
    const keys = createKeys(c.config.keyPrefix);
    try {
      await admin.zadd(keys.leases, 0, id);
      const second = await waitUntil('the job handed out again', async () => {
        const got = await call(c.url, 'POST', '/v1/agent/claim', { body: { agentId: agent, max: 1, waitMs: 0, claimId: claimId() } });
        return got.body.jobs?.[0] as { epoch: number } | undefined;
      });
      expect(second).toMatchObject({ id, attempt: 2, logOffset: 0 });
      // The first attempt, unaware, sends a big chunk (the controller still knows where it was stored):
      // refused, and nothing it pushed stays.
      const segmentsBefore = await admin.llen(keys.log(id));
      expect((await appendLog(id, epoch, first.length, pattern(30_000))).status).toBe(409);
      expect(await admin.llen(keys.log(id))).toBe(segmentsBefore);
      const more = pattern(5000, 9);
      // Offsets count this attempt's bytes: the marker is not part of them.
      expect((await appendLog(id, second.epoch, 0, more)).body.offset).toBe(5000);
      const completedBy = Date.now();
      expect((await complete(id, second.epoch, 5000)).body).toMatchObject({ accepted: true });
      const view = (await call(c.url, 'GET', `/v1/jobs/${id}`)).body;
      expect(view.logTruncated).toBe(true);
      const got = await getLog(id, 0);
      expect(got.bytes.length).toBe(CAP);
      expect(got.truncated).toBe('true');
      expect(got.bytes.subarray(0, first.length).equals(first)).toBe(true);
      const marker = `\n--- httpagent: attempt 2 on agent ${agent} ---\n`;
      expect(got.bytes.subarray(first.length, first.length + marker.length).toString()).toBe(marker);
      const rest = got.bytes.subarray(first.length + marker.length);
      expect(rest.equals(more.subarray(0, rest.length))).toBe(true);
      expect(view.logBytes).toBe(first.length + marker.length + more.length);
      expect(await admin.hget(keys.job(id), 'logKept')).toBe(String(CAP));
      // Retention covers the segmented log like the job itself: set to retentionSec at completion, less
      // what has passed since (measured here, so a slow machine cannot make it look wrong).
      const ttl = await admin.ttl(keys.log(id));
      expect(ttl).toBeLessThanOrEqual(3600);
      expect(ttl).toBeGreaterThanOrEqual(3600 - Math.ceil((Date.now() - completedBy) / 1000) - 1);
    } finally {
      admin.disconnect();
    }
  });

  it('big chunks after the first skip Lua (RPUSH in a MULTI); a stale, gapped, overlapping or capped one changes nothing it should not', async () => {
    const { id, epoch } = await runningJob();
    const keys = createKeys(c.config.keyPrefix);
    const admin = redis.client();
    const execs = async () => Number(/cmdstat_exec:calls=(\d+)/.exec(String(await admin.info('commandstats')))?.[1] ?? 0);
    try {
      const all = pattern(CAP + 5000, 11);
      // The first chunk tells the controller where the attempt is stored; the next ones can go fast.
      expect((await appendLog(id, epoch, 0, all.subarray(0, 100))).body.offset).toBe(100);
      const before = await execs();
      expect((await appendLog(id, epoch, 100, all.subarray(100, 100 + SEG + 20_000))).body.offset).toBe(100 + SEG + 20_000);
      let at = 100 + SEG + 20_000;
      expect(await execs()).toBe(before + 1);
      const len = async () => admin.llen(keys.log(id));
      const segments = await len();
      expect(segments).toBe(2);
      // Stale epoch and a gap: refused, the pushed segments undone.
      expect((await appendLog(id, epoch + 1, at, all.subarray(at, at + 40_000))).status).toBe(409);
      const gap = await appendLog(id, epoch, at + 10, all.subarray(at + 10, at + 40_000));
      expect(gap.status).toBe(416);
      expect(gap.body.error).toMatchObject({ code: 'LOG_OFFSET_GAP', expected: at });
      expect(await len()).toBe(segments);
      // A resend overlapping what is held: the slow way skips the overlap.
      expect((await appendLog(id, epoch, at - 1000, all.subarray(at - 1000, at + 30_000))).body.offset).toBe(at + 30_000);
      at += 30_000;
      // Up to the cap and past it: bytes counted, the head kept.
      expect((await appendLog(id, epoch, at, all.subarray(at))).body.offset).toBe(all.length);
      expect((await complete(id, epoch, all.length)).body).toMatchObject({ accepted: true });
      const got = await getLog(id, 0);
      expect(got.bytes.equals(all.subarray(0, CAP))).toBe(true);
      expect(got.truncated).toBe('true');
      expect((await call(c.url, 'GET', `/v1/jobs/${id}`)).body.logBytes).toBe(all.length);
      for (const offset of [0, 99, 100, SEG - 1, SEG, SEG + 1, 2 * SEG + 7, CAP - 1]) {
        expect((await getLog(id, offset)).bytes.equals(all.subarray(offset, CAP)), `offset ${offset}`).toBe(true);
      }
    } finally {
      admin.disconnect();
    }
  });
});
