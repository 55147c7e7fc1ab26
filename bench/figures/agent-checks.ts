// What per-agent identity costs on the hot path: idle pickup median and no-op throughput at concurrency
// 1 and 50, each measured against a controller that checks every credential and agent id and against the
// same build with the checks off (bench/lib/unchecked-controller.ts). The target: no figure worse by more
// than 5 %, judged on the median of per-round ratios (bench/lib/rounds.ts), so drift on a shared machine
// falls on both sides alike and a spread that straddles the target says so instead of a verdict.
import { benchProcess, perUnit, redisSource, startCpuMeter } from '../lib/cpu-time.js';
import type { Figure } from '../lib/figure.js';
import { platformClient } from '../lib/proto-client.js';
import { interleave, roundsRow, type Measurement } from '../lib/rounds.js';
import { startController, stop, withRedis } from '../lib/system.js';
import { samplePickup } from './pickup.js';
import { drainWithProtocol } from './throughput.js';

/** One round on one side: pickup median, then no-op rates at c=1 and c=50; CPU per no-op job (controller, bench, redis). */
async function measure(checks: boolean, quick: boolean, round: number): Promise<Measurement> {
  return withRedis(async (redis) => {
    const controller = await startController(redis.url, { HTTPAGENT_LOG_LEVEL: 'error' }, undefined, { agentChecks: checks });
    const platform = platformClient(controller.url, 4);
    const admin = redis.client();
    try {
      const pickupMs = (await samplePickup(controller.url, `pickup-${round}`, quick ? 50 : 200)).median;
      // Each drain is a new agent (a protocol client enrolls the ids it registers, once).
      const rate = async (name: string, c: number, n: number): Promise<number> => {
        await platform.enqueueMany(n, { task: 'noop' });
        return drainWithProtocol(controller.url, `${name}-${round}`, c, n);
      };
      await rate('warm', 50, quick ? 500 : 2000); // JIT, sockets, script cache
      const n1 = quick ? 500 : 3000;
      const n50 = quick ? 2000 : 10_000;
      const meter = await startCpuMeter([{ label: 'controller', pid: controller.proc.proc.pid! }, benchProcess(), await redisSource(admin)]);
      const c1 = await rate('c1', 1, n1);
      const c50 = await rate('c50', 50, n50);
      const cpu = perUnit(await meter.stop(), n1 + n50);
      return { values: { pickupMs, c1, c50, cpuUs: cpu.total }, cpu: cpu.total, detail: { cpuUsPerJob: cpu.by } };
    } finally {
      admin.disconnect();
      await platform.close();
      await stop(controller.proc);
    }
  });
}

export const agentChecks: Figure = {
  name: 'agent-checks',
  interleaved: true,
  async run(ctx) {
    const res = await interleave(ctx, {
      label: 'agent checks',
      cpuUnit: 'µs/job',
      better: { pickupMs: 'lower', c1: 'higher', c50: 'higher', cpuUs: 'lower' },
      ours: (round) => measure(true, ctx.quick, round),
      anchors: { 'checks off': (round) => measure(false, ctx.quick, round) },
    });
    const note = `${ctx.rounds} interleaved rounds per side, each on a fresh Redis; checks on: every agent call's credential checked (cached 5 s per controller) and every agent id it names matched, leases checked by agent in Lua (on both sides); checks off: the same dist/ build started by bench/lib/unchecked-controller.ts; CPU per no-op job: controller + bench process + redis-server`;
    return [
      roundsRow(res, { bench: 'agent-checks', figure: 'idle agent pickup median', unit: 'ms', key: 'pickupMs', anchor: 'checks off', target: 'ratio ≤ 1.05', ratioTarget: { op: '≤', value: 1.05 }, note }),
      roundsRow(res, { bench: 'agent-checks', figure: 'no-op jobs end to end, concurrency 1', unit: 'jobs/s', key: 'c1', anchor: 'checks off', target: 'ratio ≥ 0.95', ratioTarget: { op: '≥', value: 0.95 } }),
      roundsRow(res, { bench: 'agent-checks', figure: 'no-op jobs end to end, concurrency 50', unit: 'jobs/s', key: 'c50', anchor: 'checks off', target: 'ratio ≥ 0.95', ratioTarget: { op: '≥', value: 0.95 } }),
      // CPU time moves far less than wall clocks on a shared machine: the steadiest view of what the checks cost.
      roundsRow(res, { bench: 'agent-checks', figure: 'CPU per no-op job (controller, bench, redis)', unit: 'µs', key: 'cpuUs', anchor: 'checks off', target: 'ratio ≤ 1.05', ratioTarget: { op: '≤', value: 1.05 } }),
    ];
  },
};
