// Figure 2: pickup latency of an idle agent. An agent-protocol client long-polls a controller process;
// each sample times POST /v1/jobs from its start to the claim reply arriving. Anchor: an idle BullMQ
// worker on the same Redis, add() to processor entry.
import { Pool } from 'undici';
import { bullmqPickup } from '../lib/bullmq-anchor.js';
import { sleep, type Figure } from '../lib/figure.js';
import { platformClient, protoClient } from '../lib/proto-client.js';
import { summarize, now, type Summary } from '../lib/stats.js';
import { startController, withRedis, stop } from '../lib/system.js';

/** Samples pickup latency against a running controller: one parked long-poll per sample. */
export async function samplePickup(controllerUrl: string, agentId: string, samples: number): Promise<Summary> {
  const proto = protoClient(controllerUrl, 2);
  const platform = platformClient(controllerUrl, 2);
  try {
    await proto.register(agentId, 1);
    const out: number[] = [];
    const WARM = 20;
    for (let i = 0; i < samples + WARM; i++) {
      const claim = proto.claim(agentId, 1, 30_000);
      await sleep(15); // the claim is parked at the controller by now (its first try found nothing)
      const t0 = now();
      const [jobs] = await Promise.all([claim.then((j) => ({ jobs: j, t: now() })), platform.submit({ task: 'true' })]);
      if (jobs.jobs.length !== 1) throw new Error(`claim answered ${jobs.jobs.length} jobs`);
      if (i >= WARM) out.push(jobs.t - t0); // the first few warm up sockets, JIT and script cache
      await proto.complete(agentId, jobs.jobs[0]!, 0);
    }
    return summarize(out);
  } finally {
    await proto.close();
    await platform.close();
  }
}

/**
 * The same pickup while the controller also serves other traffic (GET /healthz about every ms): it
 * shows what an idle process's wake-ups cost on this machine.
 */
async function pickupWhileBusy(controllerUrl: string, samples: number): Promise<Summary> {
  const pool = new Pool(controllerUrl, { connections: 1 });
  let on = true;
  const background = (async () => {
    while (on) {
      const r = await pool.request({ path: '/healthz', method: 'GET' });
      await r.body.dump();
      await sleep(1);
    }
  })();
  try {
    return await samplePickup(controllerUrl, 'pickup-busy', samples);
  } finally {
    on = false;
    await background;
    await pool.close();
  }
}

/** POST /v1/jobs round trip alone (nobody waiting): the floor under a pickup through HTTP. */
export async function submitLatency(controllerUrl: string, samples: number): Promise<Summary> {
  const platform = platformClient(controllerUrl, 1);
  try {
    const out: number[] = [];
    for (let i = 0; i < samples + 20; i++) {
      const t0 = now();
      await platform.submit({ task: 'true', agent: 'nobody' });
      if (i >= 20) out.push(now() - t0);
    }
    return summarize(out);
  } finally {
    await platform.close();
  }
}

export const pickup: Figure = {
  name: 'pickup',
  async run(ctx) {
    const n = ctx.quick ? 50 : 300;
    return withRedis(async (redis) => {
      const controller = await startController(redis.url);
      let ours: Summary;
      let context = '';
      try {
        ours = await samplePickup(controller.url, 'pickup-agent', n);
        const submit = await submitLatency(controller.url, n);
        ctx.detail('submitOnly', submit);
        ctx.log(`POST /v1/jobs alone: median ${submit.median.toFixed(2)} ms, p99 ${submit.p99.toFixed(2)} ms`);
        const busy = await pickupWhileBusy(controller.url, Math.ceil(n / 2));
        ctx.detail('whileControllerBusy', busy);
        context = `; POST /v1/jobs alone ${submit.median.toFixed(2)} ms median; the same pickup with the controller serving ~500 other requests/s: ${busy.median.toFixed(2)} ms median, p99 ${busy.p99.toFixed(2)} ms`;
      } finally {
        await stop(controller.proc);
      }
      const bull = summarize(await bullmqPickup(redis.url, n));
      ctx.detail('httpagent', ours);
      ctx.detail('bullmq', bull);
      const note = `${n} samples; ours: POST /v1/jobs start → long-poll claim reply at an agent-protocol client (controller is a separate process); BullMQ: queue.add → idle worker's processor${context}`;
      return [
        { bench: 'pickup', figure: 'idle agent pickup median', unit: 'ms', ours: ours.median, anchor: bull.median, anchorName: 'BullMQ', target: '≤ 2 ms', met: ours.median <= 2, note },
        { bench: 'pickup', figure: 'idle agent pickup p99', unit: 'ms', ours: ours.p99, anchor: bull.p99, anchorName: 'BullMQ', target: '≤ 10 ms', met: ours.p99 <= 10 },
      ];
    });
  },
};
