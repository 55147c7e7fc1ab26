// What per-agent identity costs on the hot path: idle pickup median and no-op throughput at concurrency
// 1 and 50, each measured against a controller that checks every credential and agent id and against the
// same build with the checks off (bench/lib/unchecked-controller.ts). The target: no figure worse by more
// than 5 %. Runs alternate (on, off, on, off, ...) on fresh Redis each, and each side keeps its median,
// so drift on a shared machine falls on both sides alike.
import type { Figure } from '../lib/figure.js';
import { platformClient } from '../lib/proto-client.js';
import type { Row } from '../lib/report.js';
import { startController, stop, withRedis } from '../lib/system.js';
import { samplePickup } from './pickup.js';
import { drainWithProtocol } from './throughput.js';

interface Sample {
  pickupMs: number;
  c1: number;
  c50: number;
}

async function measure(checks: boolean, quick: boolean, round: number): Promise<Sample> {
  return withRedis(async (redis) => {
    const controller = await startController(redis.url, { HTTPAGENT_LOG_LEVEL: 'error' }, undefined, { agentChecks: checks });
    const platform = platformClient(controller.url, 4);
    try {
      const pickupMs = (await samplePickup(controller.url, `pickup-${round}`, quick ? 50 : 200)).median;
      // Each drain is a new agent (a protocol client enrolls the ids it registers, once).
      const rate = async (name: string, c: number, n: number): Promise<number> => {
        await platform.enqueueMany(n, { task: 'noop' });
        return drainWithProtocol(controller.url, `${name}-${round}`, c, n);
      };
      await rate('warm', 50, quick ? 500 : 2000); // JIT, sockets, script cache
      const c1 = await rate('c1', 1, quick ? 500 : 3000);
      const c50 = await rate('c50', 50, quick ? 2000 : 10_000);
      return { pickupMs, c1, c50 };
    } finally {
      await platform.close();
      await stop(controller.proc);
    }
  });
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

export const agentChecks: Figure = {
  name: 'agent-checks',
  async run(ctx) {
    const rounds = ctx.quick ? 1 : 3;
    const on: Sample[] = [];
    const off: Sample[] = [];
    for (let r = 0; r < rounds; r++) {
      on.push(await measure(true, ctx.quick, r));
      off.push(await measure(false, ctx.quick, r));
      ctx.log(`round ${r + 1}: checks on ${JSON.stringify(on[r])}, off ${JSON.stringify(off[r])}`);
    }
    ctx.detail('on', on);
    ctx.detail('off', off);
    const row = (figure: string, unit: string, key: keyof Sample, higherIsBetter: boolean): Row => {
      const ours = median(on.map((s) => s[key]));
      const anchor = median(off.map((s) => s[key]));
      const worse = higherIsBetter ? anchor / ours - 1 : ours / anchor - 1;
      return { bench: 'agent-checks', figure, unit, ours, anchor, anchorName: 'checks off', target: '≤ 5 % worse', met: worse <= 0.05 };
    };
    const rows = [
      row('idle agent pickup median', 'ms', 'pickupMs', false),
      row('no-op jobs end to end, concurrency 1', 'jobs/s', 'c1', true),
      row('no-op jobs end to end, concurrency 50', 'jobs/s', 'c50', true),
    ];
    rows[0]!.note = `${rounds} alternating round(s) per side, medians; checks on: every agent call's credential checked (cached 5 s per controller) and every agent id it names matched, leases checked by agent in Lua (on both sides); checks off: the same dist/ build started by bench/lib/unchecked-controller.ts`;
    return rows;
  },
};
