// Figure 7: log streaming. A real agent runs a step that writes 200 MiB (quick: 50 MiB) on stdout; the
// figures are MB/s reaching the controller (submit to the job final with its whole log stored) as a
// fraction of the floor (one Node process POSTing the same bytes in 1 MiB chunks to a fastify route that
// only RPUSHes them, bench/lib/floor.ts), in interleaved rounds; bytes lost (read back through
// GET /v1/jobs/:id/log and compared byte for byte); the agent's peak RSS; CPU per MiB of every process.
import { perUnit, redisSource, startCpuMeter } from '../lib/cpu-time.js';
import { benchTasksDir, until, type Figure } from '../lib/figure.js';
import { logFloor } from '../lib/floor.js';
import { platformClient } from '../lib/proto-client.js';
import { interleave, roundsRow, type Measurement } from '../lib/rounds.js';
import { now } from '../lib/stats.js';
import { peakRssMb, startAgent, startController, withRedis, stop } from '../lib/system.js';

const LINE = Buffer.from('httpagent log streaming bench line: 0123456789abcdef0123456789\n');

/**
 * Checks a job log page by page: the agent's `==> step` header line, then exactly the bytes big-log
 * wrote, then the step's closing line. Counts payload bytes found intact.
 */
function logChecker(payloadBytes: number) {
  let start = -1; // log offset where the script's output begins
  let intact = 0;
  let tail = '';
  return {
    page(got: Buffer, offset: number): void {
      let i = 0;
      if (start < 0) {
        const nl = got.indexOf(10);
        if (!got.subarray(0, nl + 1).toString().startsWith('==> step 1/1 big-log')) throw new Error('log does not open with the step header');
        start = offset + nl + 1;
        i = nl + 1;
      }
      for (; i < got.length; i++) {
        const pos = offset + i - start;
        if (pos >= payloadBytes) {
          tail += got.subarray(i).toString();
          break;
        }
        if (got[i] === LINE[pos % LINE.length]) intact++;
      }
    },
    result: () => ({ intact, closed: /^==> step 1\/1 big-log succeeded/.test(tail) }),
  };
}

/** Ours, one round on a fresh Redis: MB/s, bytes lost, agent peak RSS; CPU ms per MiB. */
async function oursRound(mib: number, round: number): Promise<Measurement> {
  const bytes = mib * 1024 * 1024;
  return withRedis(async (redis) => {
    // The per-job cap (64 MiB by default) is raised so the whole log is kept and can be checked.
    const controller = await startController(redis.url, { HTTPAGENT_LOG_CAP_BYTES: String(bytes * 2), HTTPAGENT_LOG_LEVEL: 'error' });
    const platform = platformClient(controller.url, 2);
    const agentId = `log-agent-${round}`;
    const agent = await startAgent(controller.url, agentId, { HTTPAGENT_TASKS_DIR: benchTasksDir, HTTPAGENT_CONCURRENCY: '1', HTTPAGENT_LOG_LEVEL: 'error' });
    const admin = redis.client();
    try {
      await until('the agent to register', async () => {
        const r = await platform.get('/v1/agents');
        return String(r.body).includes(`"${agentId}"`) ? true : undefined;
      });
      // The agent's own CPU, not its script's (yes | head): the floor's poster makes its bytes in-process.
      const meter = await startCpuMeter([{ label: 'controller', pid: controller.proc.proc.pid! }, { label: 'agent', pid: agent.proc.proc.pid! }, await redisSource(admin)]);
      const t0 = now();
      const { id } = (await platform.submit({ task: 'big-log', params: { BYTES: String(bytes) } })) as { id: string };
      const job = await until('the job to end', async () => {
        const j = await platform.job(id);
        return ['succeeded', 'failed', 'cancelled'].includes(String(j.state)) ? j : undefined;
      }, 600_000, 25);
      const secs = (now() - t0) / 1000;
      const cpu = perUnit(await meter.stop(), mib, 1e3);
      const agentPeak = await peakRssMb(agent.proc.proc.pid!);
      const controllerPeak = await peakRssMb(controller.proc.proc.pid!);
      if (job.state !== 'succeeded') throw new Error(`log job ended ${String(job.state)}: ${String(job.error)}`);
      // Read the log back page by page and compare every byte with what the script wrote.
      let offset = 0;
      const check = logChecker(bytes);
      for (;;) {
        const r = await platform.get(`/v1/jobs/${id}/log?offset=${offset}`);
        if (r.status !== 200) throw new Error(`GET log answered ${r.status}`);
        if (r.body.length === 0) break;
        check.page(r.body, offset);
        offset += r.body.length;
      }
      const { intact, closed } = check.result();
      return {
        values: { mbPerSecond: bytes / 1e6 / secs, lost: bytes - intact, footer: closed ? 1 : 0, rssMb: agentPeak },
        cpu: cpu.total,
        detail: { logBytes: job.logBytes, logTruncated: job.logTruncated, readBack: offset, seconds: secs, controllerPeakRssMb: controllerPeak, cpuMsPerMiB: cpu.by },
      };
    } finally {
      admin.disconnect();
      await platform.close();
      await stop(agent.proc);
      await stop(controller.proc);
    }
  });
}

export const logStream: Figure = {
  name: 'log-stream',
  interleaved: true,
  async run(ctx) {
    const mib = ctx.quick ? 50 : 200;
    const res = await interleave(ctx, {
      label: `log ${mib} MiB`,
      cpuUnit: 'ms/MiB',
      better: { mbPerSecond: 'higher', lost: 'lower', rssMb: 'lower' },
      ours: (round) => oursRound(mib, round),
      anchors: { floor: () => logFloor(mib) },
    });
    const footers = res.ours.every((m) => m.values.footer === 1);
    const posterRss = Math.max(...(res.anchors.floor ?? []).map((m) => m.values.rssMb!));
    const note = `per round one job writing ${mib} MiB on stdout through a real agent (1 MiB chunks to the controller, kept in Redis); MB/s = bytes / (submit → job final); the log read back via GET /v1/jobs/:id/log and compared byte for byte${footers ? '' : ' (step footer MISSING in a round)'}; floor: one Node process POSTing the same bytes in 1 MiB chunks, two in flight, to a fastify route in its own process that only RPUSHes them (list deleted after each round)${Number.isFinite(posterRss) ? `, poster peak RSS ${posterRss.toFixed(0)} MB` : ''}; CPU per MiB: controller + agent (not its script) + redis-server (ours), floor server + poster + redis-server (floor)`;
    return [
      roundsRow(res, { bench: 'log-stream', figure: `${mib} MiB log: throughput to the controller, against the floor`, unit: 'MB/s', key: 'mbPerSecond', anchor: 'floor', anchorName: 'POST + RPUSH floor', target: 'ratio ≥ 0.7 every round', ratioTarget: { op: '≥', value: 0.7, every: true }, note }),
      roundsRow(res, { bench: 'log-stream', figure: `${mib} MiB log: bytes lost (worst round)`, unit: 'bytes', key: 'lost', aggregate: 'max', target: '0', absolute: (x) => x === 0 && footers }),
      roundsRow(res, { bench: 'log-stream', figure: `${mib} MiB log: agent peak RSS (worst round)`, unit: 'MB', key: 'rssMb', aggregate: 'max', target: '≤ 150 MB', absolute: (x) => x <= 150 }),
    ];
  },
};
