// Figure 2: pickup latency of an idle agent. An agent-protocol client long-polls a controller process;
// each sample times POST /v1/jobs from its start to the claim reply arriving. Anchor: an idle BullMQ
// worker, add() to processor entry. Interleaved rounds, each side on a fresh private Redis; CPU per
// pickup of every process involved (Redis included) beside the latencies.
import { Pool } from 'undici';
import { bullmqPickup } from '../lib/bullmq-anchor.js';
import { benchProcess, perUnit, redisSource, startCpuMeter } from '../lib/cpu-time.js';
import { sleep, type BenchContext, type Figure } from '../lib/figure.js';
import { platformClient, protoClient } from '../lib/proto-client.js';
import { interleave, roundsRow, type Measurement } from '../lib/rounds.js';
import { summarize, now, type Summary } from '../lib/stats.js';
import { startController, withRedis, stop } from '../lib/system.js';

/** Pickups before the measured ones: they warm up sockets, JIT and script cache. */
const PICKUP_WARM = 20;

/** Samples pickup latency against a running controller: one parked long-poll per sample. */
export async function samplePickup(controllerUrl: string, agentId: string, samples: number): Promise<Summary> {
  const proto = protoClient(controllerUrl, 2);
  const platform = platformClient(controllerUrl, 2);
  try {
    await proto.register(agentId, 1);
    const out: number[] = [];
    for (let i = 0; i < samples + PICKUP_WARM; i++) {
      const claim = proto.claim(agentId, 1, 30_000);
      await sleep(15); // the claim is parked at the controller by now (its first try found nothing)
      const t0 = now();
      const [jobs] = await Promise.all([claim.then((j) => ({ jobs: j, t: now() })), platform.submit({ task: 'true' })]);
      if (jobs.jobs.length !== 1) throw new Error(`claim answered ${jobs.jobs.length} jobs`);
      if (i >= PICKUP_WARM) out.push(jobs.t - t0); // the first few warm up sockets, JIT and script cache
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

/** Ours, one round; the first also measures what a pickup is made of (submit alone, a busy controller). */
async function oursRound(ctx: BenchContext, n: number, round: number): Promise<Measurement> {
  return withRedis(async (redis) => {
    const controller = await startController(redis.url);
    const admin = redis.client();
    try {
      const meter = await startCpuMeter([{ label: 'controller', pid: controller.proc.proc.pid! }, benchProcess(), await redisSource(admin)]);
      const s = await samplePickup(controller.url, `pickup-agent-${round}`, n);
      const cpu = perUnit(await meter.stop(), n + PICKUP_WARM);
      if (round === 0) {
        const submit = await submitLatency(controller.url, n);
        ctx.detail('submitOnly', submit);
        const busy = await pickupWhileBusy(controller.url, Math.ceil(n / 2));
        ctx.detail('whileControllerBusy', busy);
        ctx.log(`POST /v1/jobs alone: median ${submit.median.toFixed(2)} ms; pickup with the controller serving ~500 other requests/s: median ${busy.median.toFixed(2)} ms, p99 ${busy.p99.toFixed(2)} ms`);
      }
      return { values: { median: s.median, p99: s.p99 }, cpu: cpu.total, detail: { summary: s, cpuUsPerPickup: cpu.by } };
    } finally {
      admin.disconnect();
      await stop(controller.proc);
    }
  });
}

async function bullmqRound(n: number): Promise<Measurement> {
  return withRedis(async (redis) => {
    const admin = redis.client();
    try {
      const meter = await startCpuMeter([benchProcess(), await redisSource(admin)]);
      const s = summarize(await bullmqPickup(redis.url, n));
      const cpu = perUnit(await meter.stop(), n);
      return { values: { median: s.median, p99: s.p99 }, cpu: cpu.total, detail: { summary: s, cpuUsPerPickup: cpu.by } };
    } finally {
      admin.disconnect();
    }
  });
}

export const pickup: Figure = {
  name: 'pickup',
  interleaved: true,
  async run(ctx) {
    const n = ctx.quick ? 50 : 300;
    const res = await interleave(ctx, {
      label: 'idle pickup',
      cpuUnit: 'µs/job',
      better: { median: 'lower', p99: 'lower' },
      ours: (round) => oursRound(ctx, n, round),
      anchors: { BullMQ: () => bullmqRound(n) },
    });
    const note = `${n} samples per side and round; ours: POST /v1/jobs start → the claim's reply at an agent-protocol client waiting on the agent channel (controller is a separate process); BullMQ: queue.add → idle worker's processor (both in the bench process). CPU per pickup: controller + bench process + redis-server (ours), bench process + redis-server (BullMQ), idle waits included`;
    return [
      roundsRow(res, { bench: 'pickup', figure: 'idle agent pickup median', unit: 'ms', key: 'median', anchor: 'BullMQ', target: 'ratio ≤ 1.0', ratioTarget: { op: '≤', value: 1 }, note }),
      roundsRow(res, { bench: 'pickup', figure: 'idle agent pickup p99', unit: 'ms', key: 'p99', anchor: 'BullMQ', target: 'ratio ≤ 2.0', ratioTarget: { op: '≤', value: 2 } }),
    ];
  },
};
