// Figure 9: burst acceptance. 10,000 jobs (quick: 5,000) posted to the controller as fast as a platform
// can (batched POST /v1/jobs arrays of 1,000, 4 in flight), accepted jobs/s, vs BullMQ addBulk of the
// same count in chunks of 1,000; interleaved rounds, each side on a fresh private Redis.
import { bullmqAddBulk } from '../lib/bullmq-anchor.js';
import { benchProcess, perUnit, redisSource, startCpuMeter } from '../lib/cpu-time.js';
import type { Figure } from '../lib/figure.js';
import { platformClient } from '../lib/proto-client.js';
import { interleave, roundsRow, type Measurement } from '../lib/rounds.js';
import { now } from '../lib/stats.js';
import { startController, withRedis, stop } from '../lib/system.js';

async function oursRound(n: number): Promise<Measurement> {
  return withRedis(async (redis) => {
    const controller = await startController(redis.url, { HTTPAGENT_LOG_LEVEL: 'error' });
    const platform = platformClient(controller.url, 4);
    const admin = redis.client();
    try {
      await platform.enqueueMany(1000, { task: 'noop' }, 500, 2); // warm-up: JIT, sockets, script cache
      const meter = await startCpuMeter([{ label: 'controller', pid: controller.proc.proc.pid! }, benchProcess(), await redisSource(admin)]);
      const t0 = now();
      await platform.enqueueMany(n, { task: 'noop' }, 1000, 4);
      const rate = n / ((now() - t0) / 1000);
      const cpu = perUnit(await meter.stop(), n);
      return { values: { rate }, cpu: cpu.total, detail: { cpuUsPerJob: cpu.by } };
    } finally {
      admin.disconnect();
      await platform.close();
      await stop(controller.proc);
    }
  });
}

async function bullmqRound(n: number): Promise<Measurement> {
  return withRedis(async (redis) => {
    const admin = redis.client();
    try {
      // bullmqAddBulk warms up first inside; its CPU is counted with the burst (a few % of it).
      const meter = await startCpuMeter([benchProcess(), await redisSource(admin)]);
      const rate = await bullmqAddBulk(redis.url, n, 1000);
      const cpu = perUnit(await meter.stop(), n);
      return { values: { rate }, cpu: cpu.total, detail: { cpuUsPerJob: cpu.by } };
    } finally {
      admin.disconnect();
    }
  });
}

export const burst: Figure = {
  name: 'burst',
  interleaved: true,
  async run(ctx) {
    const n = ctx.quick ? 5000 : 10_000;
    const res = await interleave(ctx, {
      label: 'burst',
      cpuUnit: 'µs/job',
      better: { rate: 'higher' },
      ours: () => oursRound(n),
      anchors: { BullMQ: () => bullmqRound(n) },
    });
    return [
      roundsRow(res, {
        bench: 'burst',
        figure: `${n.toLocaleString('en-US')} jobs accepted`,
        unit: 'jobs/s',
        key: 'rate',
        anchor: 'BullMQ',
        anchorName: 'BullMQ addBulk',
        target: 'report (ratio)',
        note: 'ours: HTTP POST /v1/jobs with JSON arrays of 1,000 (validated, one atomic Lua enqueue per batch), 4 batches in flight, to a controller process; BullMQ: addBulk of 1,000 per call straight to Redis from the bench process; CPU per job: controller + bench process + redis-server (ours), bench process + redis-server (BullMQ, its 500-job warm-up included)',
      }),
    ];
  },
};
