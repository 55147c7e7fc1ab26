// Figure 3: no-op jobs end to end through the controller and the agent protocol, at concurrency 1 and
// 50, vs a BullMQ worker at the same concurrency, and at concurrency 1 vs the physical floor (one HTTP
// round trip whose route does one EVALSHA, bench/lib/floor.ts). Every side drains a queue filled
// beforehand on a fresh private Redis, in interleaved rounds; nothing spawns, so this measures the queue
// and protocol path alone. CPU per job counts every process involved, Redis included.
import { bullmqThroughput } from '../lib/bullmq-anchor.js';
import { benchProcess, perUnit, redisSource, startCpuMeter, type CpuSpent } from '../lib/cpu-time.js';
import type { Figure } from '../lib/figure.js';
import { noopFloor } from '../lib/floor.js';
import { platformClient, protoClient } from '../lib/proto-client.js';
import type { Row } from '../lib/report.js';
import { interleave, roundsRow, type Measurement } from '../lib/rounds.js';
import { now } from '../lib/stats.js';
import { startController, withRedis, stop } from '../lib/system.js';
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

/** Ours, one round: a controller process on a fresh Redis, a warm-up drain, then n jobs drained by the bench's protocol client. */
async function oursRound(c: number, n: number, warm: number, round: number): Promise<Measurement> {
  return withRedis(async (redis) => {
    const controller = await startController(redis.url);
    const platform = platformClient(controller.url, 4);
    const admin = redis.client();
    try {
      // Warm-up through the same controller (JIT, sockets, script cache), then the measured queue.
      await platform.enqueueMany(warm, { task: 'noop' });
      await drainWithProtocol(controller.url, `warm-${c}-${round}`, c, warm);
      await platform.enqueueMany(n, { task: 'noop' });
      // The bench process is the agent here (the protocol client), as it is BullMQ's worker on the other side.
      const meter = await startCpuMeter([{ label: 'controller', pid: controller.proc.proc.pid! }, benchProcess(), await redisSource(admin)]);
      const rate = await drainWithProtocol(controller.url, `tp-${c}-${round}`, c, n);
      const cpu = perUnit(await meter.stop(), n);
      return { values: { rate }, cpu: cpu.total, detail: { n, cpuUsPerJob: cpu.by } };
    } finally {
      admin.disconnect();
      await platform.close();
      await stop(controller.proc);
    }
  });
}

/** BullMQ, one round: a fresh Redis, a warm-up drain, then n jobs drained by a Worker in the bench process. */
async function bullmqRound(c: number, n: number, warm: number): Promise<Measurement> {
  return withRedis(async (redis) => {
    const admin = redis.client();
    try {
      await bullmqThroughput(redis.url, c, warm);
      const sources = [benchProcess(), await redisSource(admin)];
      let meter: Awaited<ReturnType<typeof startCpuMeter>> | undefined;
      let spent: CpuSpent | undefined;
      const rate = await bullmqThroughput(redis.url, c, n, {
        start: async () => void (meter = await startCpuMeter(sources)),
        end: async () => void (spent = await meter!.stop()),
      });
      const cpu = perUnit(spent!, n);
      return { values: { rate }, cpu: cpu.total, detail: { n, cpuUsPerJob: cpu.by } };
    } finally {
      admin.disconnect();
    }
  });
}

export const throughput: Figure = {
  name: 'throughput',
  interleaved: true,
  async run(ctx) {
    const rows: Row[] = [];
    for (const c of [1, 50]) {
      const n = ctx.quick ? (c === 1 ? 1000 : 3000) : c === 1 ? 3000 : 10_000;
      const warm = ctx.quick ? 500 : 2000;
      ctx.log(`concurrency ${c}: ${n} jobs per side per round, after a warm-up of ${warm}`);
      const res = await interleave(ctx, {
        label: `no-op c=${c}`,
        cpuUnit: 'µs/job',
        better: { rate: 'higher' },
        ours: (round) => oursRound(c, n, warm, round),
        anchors: {
          BullMQ: () => bullmqRound(c, n, warm),
          // The floor is defined one job at a time: with 50 in flight a design batches, and the floor with it.
          ...(c === 1 ? { floor: () => noopFloor(n, warm) } : {}),
        },
      });
      const figure = `no-op jobs end to end, concurrency ${c}`;
      const note =
        c === 1
          ? `${n} (c=1) / ${ctx.quick ? 3000 : 10_000} (c=50) jobs queued first on a fresh Redis per side and round, after a warm-up drain; ours: one agent-protocol client (in the bench process) claims up to its free slots, then completes-and-claims-next in one round trip over the agent channel (a WebSocket, as the agent) to one controller process (c=1: one result per call; c=50: the ready results batched, /v1/agent/complete, at most two batches in flight); BullMQ: one Worker at the same concurrency with a no-op processor, in the bench process; floor: per job one HTTP POST to a fastify route in its own process that does one EVALSHA of a no-op script. CPU per job: controller + bench process + redis-server (ours), bench process + redis-server (BullMQ), floor server + bench process + redis-server (floor)`
          : undefined;
      rows.push(
        roundsRow(res, { bench: 'throughput', figure, unit: 'jobs/s', key: 'rate', anchor: 'BullMQ', target: c === 1 ? 'ratio ≥ 0.6' : 'ratio ≥ 1.2', ratioTarget: { op: '≥', value: c === 1 ? 0.6 : 1.2 }, note }),
      );
      if (c === 1) {
        rows.push(roundsRow(res, { bench: 'throughput', figure: `${figure}, against the floor`, unit: 'jobs/s', key: 'rate', anchor: 'floor', anchorName: 'HTTP + EVALSHA floor', target: 'ratio ≥ 0.8', ratioTarget: { op: '≥', value: 0.8 } }));
      }
    }
    return rows;
  },
};
