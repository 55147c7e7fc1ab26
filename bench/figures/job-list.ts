// Figure: GET /v1/jobs with 100,000 jobs (quick: 20,000) in the controller. Pages of 50, newest first:
// unfiltered, by one state that few jobs are in, by several states, by label and task together (an
// intersection), 20 pages deep through the cursor, and an id search. Each is timed from the request to
// the last byte of the reply, as the dashboard or console would see it. Target: every page < 50 ms.
import type { Figure } from '../lib/figure.js';
import { platformClient } from '../lib/proto-client.js';
import { now, summarize } from '../lib/stats.js';
import { startController, stop, withRedis } from '../lib/system.js';

const TARGET_MS = 50;

export const jobList: Figure = {
  name: 'job-list',
  async run(ctx) {
    const n = ctx.quick ? 20_000 : 100_000;
    return withRedis(async (redis) => {
      const controller = await startController(redis.url, { HTTPAGENT_LOG_LEVEL: 'error' });
      const platform = platformClient(controller.url, 4);
      try {
        // Two kinds of job, so label and task filters have something to tell apart; nobody claims them.
        await platform.enqueueMany(n / 2, { task: 'noop', labels: { role: 'web' } }, 1000, 4);
        await platform.enqueueMany(n / 2, { task: 'sleep', labels: { role: 'db' } }, 1000, 4);
        // A rare state: 200 of them cancelled.
        const some = JSON.parse((await platform.get('/v1/jobs?limit=1000&label=role=db')).body.toString()) as { id: string }[];
        for (const j of some.slice(0, 200)) {
          const status = await platform.post(`/v1/jobs/${j.id}/cancel`);
          if (status !== 200) throw new Error(`cancel ${j.id}: ${status}`);
        }
        const time = async (path: string): Promise<{ ms: number; next?: string; count: number }> => {
          const t0 = now();
          const res = await platform.get(path);
          const ms = now() - t0;
          if (res.status !== 200) throw new Error(`${path}: ${res.status} ${res.body.toString().slice(0, 200)}`);
          const next = res.headers['x-next-cursor'];
          return { ms, count: (JSON.parse(res.body.toString()) as unknown[]).length, ...(typeof next === 'string' ? { next } : {}) };
        };
        const someId = some[500]!.id;
        const queries: Record<string, string> = {
          'first page': '/v1/jobs?limit=50',
          'state=queued': '/v1/jobs?limit=50&state=queued',
          'state=failed,cancelled': '/v1/jobs?limit=50&state=failed,cancelled',
          'label=role=web & task=noop': '/v1/jobs?limit=50&label=role=web&task=noop',
          'q (id search)': `/v1/jobs?limit=50&q=${someId.slice(3, 9)}`,
        };
        const rounds = ctx.quick ? 5 : 20;
        const samples: Record<string, number[]> = {};
        for (let r = 0; r < rounds + 1; r++) {
          for (const [name, path] of Object.entries(queries)) {
            const { ms } = await time(path);
            if (r > 0) (samples[name] ??= []).push(ms); // the first round warms sockets and the JIT
          }
          // 20 pages deep: each page's cost, not the sum.
          let cursor: string | undefined;
          for (let page = 0; page < 20; page++) {
            const { ms, next } = await time(`/v1/jobs?limit=50&state=queued${cursor ? `&cursor=${cursor}` : ''}`);
            if (r > 0 && page === 19) (samples['page 20 via cursor'] ??= []).push(ms);
            cursor = next;
          }
        }
        const summaries = Object.fromEntries(Object.entries(samples).map(([k, v]) => [k, summarize(v)]));
        ctx.detail('pages', { jobs: n, rounds, summaries });
        const worst = Math.max(...Object.values(summaries).map((s) => s.max));
        for (const [k, s] of Object.entries(summaries)) ctx.log(`${k}: median ${s.median.toFixed(1)} ms, max ${s.max.toFixed(1)} ms`);
        return [
          {
            bench: 'job-list',
            figure: `slowest page of 50 among ${n.toLocaleString('en-US')} jobs`,
            unit: 'ms',
            ours: worst,
            anchor: null,
            anchorName: null,
            target: `< ${TARGET_MS} ms`,
            met: worst < TARGET_MS,
            note: 'GET /v1/jobs over the job indexes: unfiltered, one rare state, several states, label and task, 20 pages deep, id search; request to last byte',
          },
        ];
      } finally {
        await platform.close();
        await stop(controller.proc);
      }
    });
  },
};
