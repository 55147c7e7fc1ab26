// Figure 3: no-op jobs end to end through the controller and the agent protocol, at concurrency 1 and
// 50, vs a BullMQ worker at the same concurrency on the same Redis. Both sides drain a queue filled
// beforehand; neither spawns anything, so this measures the queue and protocol path alone.
import { bullmqThroughput } from '../lib/bullmq-anchor.js';
import type { Figure } from '../lib/figure.js';
import { platformClient, protoClient } from '../lib/proto-client.js';
import type { Row } from '../lib/report.js';
import { commandStats, statsDelta } from '../lib/redis-stats.js';
import { now } from '../lib/stats.js';
import { cpuSeconds, startController, withRedis, stop } from '../lib/system.js';
import type { ClaimedJob } from '../../src/shared/protocol/agent-api.js';

/** Batched completes in flight at once: while one is on the wire the next one fills up. */
const BATCHES_IN_FLIGHT = 2;

/**
 * One agent with `slots` slots: a first claim for all of them, then "complete and claim the next" in
 * one round trip until the queue is empty. With one slot each job goes alone (POST .../complete with a
 * claim); with more, the results that are ready go together in a batched complete that claims as many
 * jobs as it frees slots (POST /v1/agent/complete), as the agent coalesces results ending together.
 * Answers jobs/s.
 */
export async function drainWithProtocol(controllerUrl: string, agentId: string, slots: number, n: number): Promise<number> {
  const proto = protoClient(controllerUrl, slots + 2);
  try {
    await proto.register(agentId, slots);
    const t0 = now();
    const first = await proto.claim(agentId, slots, 0);
    let done = 0;
    if (slots === 1) {
      let job: ClaimedJob | undefined = first[0];
      while (job) {
        const next: ClaimedJob[] = await proto.complete(agentId, job, 1);
        done++;
        job = next[0];
      }
    } else {
      // No-op jobs are ready as soon as they are held: each batch takes every ready result.
      const ready: ClaimedJob[] = [...first];
      let inFlight = 0;
      let finished!: () => void;
      let failed!: (err: unknown) => void;
      const all = new Promise<void>((resolve, reject) => ((finished = resolve), (failed = reject)));
      let drained = false; // a claim came back short: the queue is empty, no more claims
      const pump = (): void => {
        while (inFlight < BATCHES_IN_FLIGHT && ready.length > 0) {
          const batch = ready.splice(0, ready.length > slots / BATCHES_IN_FLIGHT ? Math.ceil(ready.length / (BATCHES_IN_FLIGHT - inFlight)) : ready.length);
          inFlight++;
          proto.completeBatch(agentId, batch, drained ? 0 : batch.length).then((next) => {
            inFlight--;
            done += batch.length;
            if (next.length < batch.length) drained = true;
            ready.push(...next);
            pump();
          }, failed);
        }
        if (inFlight === 0 && ready.length === 0) finished();
      };
      pump();
      await all;
    }
    const secs = (now() - t0) / 1000;
    if (done !== n) throw new Error(`drained ${done} of ${n} jobs`);
    return n / secs;
  } finally {
    await proto.close();
  }
}

export const throughput: Figure = {
  name: 'throughput',
  async run(ctx) {
    const rows: Row[] = [];
    for (const c of [1, 50]) {
      const n = ctx.quick ? (c === 1 ? 1000 : 3000) : c === 1 ? 5000 : 20_000;
      ctx.log(`concurrency ${c}: ${n} jobs each side, after a warm-up`);
      // A fresh Redis per concurrency keeps the two sides' leftovers (finished jobs) from weighing on each other.
      let cpu = { controller: NaN, benchClient: NaN };
      const [ours, bull, redisUs] = await withRedis(async (redis) => {
        const controller = await startController(redis.url);
        const platform = platformClient(controller.url, 4);
        const admin = redis.client();
        let rate: number;
        let oursUs: number;
        try {
          // Warm-up through the same controller (JIT, sockets, script cache), then the measured queue.
          const warm = ctx.quick ? 1000 : 3000;
          await platform.enqueueMany(warm, { task: 'noop' });
          await drainWithProtocol(controller.url, `warm-${c}`, c, warm);
          await platform.enqueueMany(n, { task: 'noop' });
          const s0 = await commandStats(admin);
          const cpu0 = await cpuSeconds(controller.proc.proc.pid!);
          const self0 = process.cpuUsage();
          rate = await drainWithProtocol(controller.url, `tp-${c}`, c, n);
          const selfCpu = process.cpuUsage(self0);
          const cpuUsPerJob = (cpu = { controller: ((await cpuSeconds(controller.proc.proc.pid!)) - cpu0) * 1e6 / n, benchClient: (selfCpu.user + selfCpu.system) / n });
          ctx.detail(`c${c}-cpu-us-per-job`, cpuUsPerJob);
          ctx.log(`CPU per job (µs): controller ${cpuUsPerJob.controller.toFixed(0)}, bench client ${cpuUsPerJob.benchClient.toFixed(0)}`);
          const d = statsDelta(s0, await commandStats(admin));
          ctx.detail(`c${c}-redis-httpagent`, d);
          oursUs = d.total / n;
        } finally {
          await platform.close();
          await stop(controller.proc);
        }
        await bullmqThroughput(redis.url, c, ctx.quick ? 1000 : 3000); // the same warm-up for the anchor
        const s1 = await commandStats(admin);
        const b = await bullmqThroughput(redis.url, c, n);
        const d = statsDelta(s1, await commandStats(admin));
        ctx.detail(`c${c}-redis-bullmq`, d);
        admin.disconnect();
        return [rate, b, { httpagent: oursUs, bullmq: d.total / n }];
      });
      ctx.detail(`c${c}`, { n, httpagent: ours, bullmq: bull, redisUsPerJob: redisUs });
      ctx.log(`Redis CPU per job while draining (commandstats, µs): httpagent ${redisUs.httpagent.toFixed(1)}, BullMQ ${redisUs.bullmq.toFixed(1)}`);
      rows.push({
        bench: 'throughput',
        figure: `no-op jobs end to end, concurrency ${c}`,
        unit: 'jobs/s',
        ours,
        anchor: bull,
        anchorName: 'BullMQ',
        target: 'ratio ≥ 1.0',
        met: ours / bull >= 1,
        note:
          c === 50
            ? `CPU per job at c=50: controller ${cpu.controller.toFixed(0)} µs, client ${cpu.benchClient.toFixed(0)} µs, Redis ${redisUs.httpagent.toFixed(0)} µs (BullMQ's Redis ${redisUs.bullmq.toFixed(0)} µs); all on the same cores`
            : c === 1
            ? `${n} (c=1) / ${ctx.quick ? 3000 : 20_000} (c=50) jobs queued first, after a warm-up drain on each side; ours: one agent-protocol client (in the bench process) claims up to its free slots, then completes-and-claims-next in one HTTP round trip to one controller process (c=1: one result per call; c=50: the ready results batched, POST /v1/agent/complete, at most two batches in flight); BullMQ: one Worker at the same concurrency with a no-op processor`
            : undefined,
      });
    }
    return rows;
  },
};
