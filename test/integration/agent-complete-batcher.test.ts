// The agent's complete batcher against a real controller: results ending together go as one batched
// complete-and-claim, each with its own status and its share of the claimed jobs; a batch whose reply is
// lost is sent again as is (duplicates, the same jobs).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createControllerClient, type ControllerClient } from '../../src/agent/controller-client/index.js';
import { ControllerError } from '../../src/shared/client/controller-http.js';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createCompleteBatcher } from '../../src/agent/jobs/complete-batcher.js';
import { openJobLog } from '../../src/agent/jobs/job-log.js';
import { deliverResult } from '../../src/agent/jobs/result-delivery.js';
import { createResultSpool } from '../../src/agent/jobs/result-spool.js';
import { silentLogger } from '../../src/shared/log.js';
import type { CompleteBatchRequest, CompleteRequest } from '../../src/shared/protocol/agent-api.js';
import { startRedis, type PrivateRedis } from '../helpers/redis-server.js';
import { agentBody, call, claimId, credentialFor, startController, type Running } from './controller-harness.js';

let redis: PrivateRedis;
let c: Running;
let client: ControllerClient;
/** The credential the client presents: that of the agent the running test made (tests run one at a time). */
let credential = '';

beforeAll(async () => {
  redis = await startRedis();
  c = await startController(redis.url);
  client = createControllerClient({ controllerUrl: c.url, credential: () => credential, connections: 4 });
});
afterAll(async () => {
  await client?.close();
  await c?.close();
  await redis?.stop();
});

let n = 0;
async function agentWithJobs(count: number, queued: number) {
  const pool = `batcher-${++n}`;
  const agentId = `batcher-agent-${n}`;
  credential = await credentialFor(c.url, agentId);
  await call(c.url, 'POST', '/v1/agent/register', { body: agentBody(agentId, { pool }, 64) });
  await call(c.url, 'POST', '/v1/jobs', { body: Array.from({ length: count + queued }, () => ({ task: 'noop', labels: { pool } })) });
  const jobs = (await call(c.url, 'POST', '/v1/agent/claim', { body: { agentId, max: count, waitMs: 0, claimId: claimId() } })).body.jobs as Array<{ id: string; epoch: number }>;
  return { agentId, jobs };
}
const req = (epoch: number, claim?: CompleteRequest['claim']): CompleteRequest => ({
  epoch,
  outcome: 'succeeded',
  steps: [{ state: 'succeeded', exitCode: 0, startedAt: null, finishedAt: null }],
  logBytes: 0,
  ...(claim ? { claim } : {}),
});

describe('complete batcher', () => {
  it('sends results of the same turn as one batch; a stale one is refused alone and still gets its share of jobs', async () => {
    const { agentId, jobs } = await agentWithJobs(3, 3);
    const sent: CompleteBatchRequest[] = [];
    const batcher = createCompleteBatcher({ send: (r) => (sent.push(r), client.jobs.completeBatch(r)), logger: silentLogger() });
    const claim = () => ({ agentId, max: 1, claimId: claimId() });
    const replies = await Promise.all([
      batcher.complete(jobs[0]!.id, req(jobs[0]!.epoch, claim())),
      batcher.complete(jobs[1]!.id, req(jobs[1]!.epoch + 1, claim())),
      batcher.complete(jobs[2]!.id, req(jobs[2]!.epoch, claim())),
    ]);
    expect(sent).toHaveLength(1);
    expect(sent[0]!.results.map((r) => r.id)).toEqual(jobs.map((j) => j.id));
    expect(sent[0]!.claim?.max).toBe(3);
    expect(replies.map((r) => r.status)).toEqual(['accepted', 'stale', 'accepted']);
    expect(replies.map((r) => r.jobs.length)).toEqual([1, 1, 1]);
    expect(new Set(replies.flatMap((r) => r.jobs.map((j) => j.id))).size).toBe(3);
  });

  it('results arriving while a batch is on the wire go together in the next one', async () => {
    const { jobs } = await agentWithJobs(4, 0);
    const sent: CompleteBatchRequest[] = [];
    const batcher = createCompleteBatcher({ send: (r) => (sent.push(r), client.jobs.completeBatch(r)), logger: silentLogger() });
    const first = batcher.complete(jobs[0]!.id, req(jobs[0]!.epoch));
    await new Promise((r) => setImmediate(r)); // the first batch leaves alone
    const rest = jobs.slice(1).map((j) => batcher.complete(j.id, req(j.epoch)));
    const all = await Promise.all([first, ...rest]);
    expect(all.map((r) => r.status)).toEqual(['accepted', 'accepted', 'accepted', 'accepted']);
    expect(sent.map((b) => b.results.length)).toEqual([1, 3]);
  });

  it('a batch whose reply was lost is sent again as is: duplicates and the same jobs', async () => {
    const { agentId, jobs } = await agentWithJobs(2, 2);
    const sent: CompleteBatchRequest[] = [];
    let first: Awaited<ReturnType<ControllerClient['jobs']['completeBatch']>> | undefined;
    const batcher = createCompleteBatcher({
      send: async (r) => {
        sent.push(r);
        const reply = await client.jobs.completeBatch(r);
        if (!first) {
          first = reply;
          throw new ControllerError('CONTROLLER_UNREACHABLE', 'reply lost', 503);
        }
        return reply;
      },
      logger: silentLogger(),
    });
    const replies = await Promise.all(jobs.map((j) => batcher.complete(j.id, req(j.epoch, { agentId, max: 1, claimId: claimId() }))));
    expect(sent).toHaveLength(2);
    expect(sent[1]).toEqual(sent[0]);
    expect(first!.results.map((r) => r.status)).toEqual(['accepted', 'accepted']);
    expect(replies.map((r) => r.status)).toEqual(['duplicate', 'duplicate']);
    expect(replies.flatMap((r) => r.jobs)).toEqual(first!.jobs);
  });
});

describe('result delivery with a log tail', () => {
  it('a short log rest rides on the complete (no append); a long one is appended first; the stored log is whole', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'httpagent-tail-'));
    try {
      const spool = await createResultSpool(dir);
      const { jobs } = await agentWithJobs(2, 0);
      const appends: number[] = [];
      const counting = { ...client.jobs, appendLog: (id: string, epoch: number, offset: number, bytes: Buffer) => (appends.push(bytes.length), client.jobs.appendLog(id, epoch, offset, bytes)) };
      const outputs = ['short output \u00e9\n', `${'x'.repeat(40_000)}\n`];
      for (const [i, j] of jobs.entries()) {
        const s = await spool.create({ id: j.id, epoch: j.epoch, attempt: 1, claimedAt: new Date().toISOString() });
        const log = await openJobLog(s.logPath);
        log.append(outputs[i]!);
        const logBytes = await log.flush();
        // The controller already holds the first 5 bytes (streamed while the job ran).
        await client.jobs.appendLog(j.id, j.epoch, 0, await log.read(0, 5));
        appends.length = 0;
        const result = { ...req(j.epoch), logBytes };
        await s.writeResult(result);
        const out = await deliverResult({ spool: s, log, result, logAcked: 5 }, { jobs: counting, chunkMaxBytes: 1024 * 1024, logger: silentLogger() });
        expect(out.status).toBe('accepted');
        expect(appends.length > 0).toBe(i === 1);
        expect((await call(c.url, 'GET', `/v1/jobs/${j.id}/log`)).text).toBe(outputs[i]);
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
