// Figure 9: burst acceptance. 10,000 jobs (quick: 5,000) posted to the controller as fast as a platform
// can (batched POST /v1/jobs arrays of 1,000, 4 in flight), accepted jobs/s, vs BullMQ addBulk of the
// same count in chunks of 1,000 on the same Redis.
import { bullmqAddBulk } from '../lib/bullmq-anchor.js';
import type { Figure } from '../lib/figure.js';
import { platformClient } from '../lib/proto-client.js';
import { now } from '../lib/stats.js';
import { startController, withRedis, stop } from '../lib/system.js';

export const burst: Figure = {
  name: 'burst',
  async run(ctx) {
    const n = ctx.quick ? 5000 : 10_000;
    return withRedis(async (redis) => {
      const controller = await startController(redis.url, { HTTPAGENT_LOG_LEVEL: 'error' });
      const platform = platformClient(controller.url, 4);
      let ours: number;
      try {
        await platform.enqueueMany(1000, { task: 'noop' }, 500, 2); // warm-up: JIT, sockets, script cache
        const t0 = now();
        await platform.enqueueMany(n, { task: 'noop' }, 1000, 4);
        ours = n / ((now() - t0) / 1000);
      } finally {
        await platform.close();
        await stop(controller.proc);
      }
      const bull = await bullmqAddBulk(redis.url, n, 1000);
      ctx.detail('rates', { n, httpagent: ours, bullmq: bull });
      return [
        {
          bench: 'burst',
          figure: `${n.toLocaleString('en-US')} jobs accepted`,
          unit: 'jobs/s',
          ours,
          anchor: bull,
          anchorName: 'BullMQ addBulk',
          target: 'report (ratio)',
          met: null,
          note: 'ours: HTTP POST /v1/jobs with JSON arrays of 1,000 (validated, one atomic Lua enqueue per batch), 4 batches in flight, to a controller process; BullMQ: addBulk of 1,000 per call straight to Redis from the bench process',
        },
      ];
    });
  },
};
