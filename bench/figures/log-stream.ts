// Figure 7: log streaming. A real agent runs a step that writes 200 MB (quick: 50 MB) on stdout; the
// figures are MB/s reaching the controller (submit to the job final with its whole log stored), bytes
// lost (read back through GET /v1/jobs/:id/log and compared byte for byte), and the agent's peak RSS.
import { readFileSync } from 'node:fs';
import { benchTasksDir, until, type Figure } from '../lib/figure.js';
import { platformClient } from '../lib/proto-client.js';
import { now } from '../lib/stats.js';
import { startAgent, startController, withRedis, stop } from '../lib/system.js';

const LINE = Buffer.from('httpagent log streaming bench line: 0123456789abcdef0123456789\n');

/** Peak resident set size (VmHWM) of a process in MB. */
function peakRssMb(pid: number): number {
  const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

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

export const logStream: Figure = {
  name: 'log-stream',
  async run(ctx) {
    const mb = ctx.quick ? 50 : 200;
    const bytes = mb * 1024 * 1024;
    return withRedis(async (redis) => {
      // The per-job cap (64 MiB by default) is raised so the whole log is kept and can be checked.
      const controller = await startController(redis.url, { HTTPAGENT_LOG_CAP_BYTES: String(bytes * 2), HTTPAGENT_LOG_LEVEL: 'error' });
      const platform = platformClient(controller.url, 2);
      const agent = await startAgent(controller.url, 'log-agent', { HTTPAGENT_TASKS_DIR: benchTasksDir, HTTPAGENT_CONCURRENCY: '1', HTTPAGENT_LOG_LEVEL: 'error' });
      try {
        await until('the agent to register', async () => {
          const r = await platform.get('/v1/agents');
          return String(r.body).includes('"log-agent"') ? true : undefined;
        });
        const t0 = now();
        const { id } = (await platform.submit({ task: 'big-log', params: { BYTES: String(bytes) } })) as { id: string };
        const job = await until('the job to end', async () => {
          const j = await platform.job(id);
          return ['succeeded', 'failed', 'cancelled'].includes(String(j.state)) ? j : undefined;
        }, 600_000, 25);
        const secs = (now() - t0) / 1000;
        const agentPeak = peakRssMb(agent.proc.proc.pid!);
        const controllerPeak = peakRssMb(controller.proc.proc.pid!);
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
        const lost = bytes - intact;
        ctx.detail('job', { state: job.state, logBytes: job.logBytes, logTruncated: job.logTruncated, readBack: offset, intact, closed, seconds: secs, agentPeakRssMb: agentPeak, controllerPeakRssMb: controllerPeak });
        if (job.state !== 'succeeded') throw new Error(`log job ended ${String(job.state)}: ${String(job.error)}`);
        const note = `one job writing ${mb} MiB on stdout through a real agent (1 MiB chunks to the controller, kept in Redis); MB/s = bytes / (submit → job final); log read back via GET /v1/jobs/:id/log (${offset} bytes with the step header and footer${closed ? '' : ', footer MISSING'}) and compared byte for byte; controller peak RSS ${controllerPeak.toFixed(0)} MB`;
        return [
          { bench: 'log-stream', figure: `${mb} MiB log: throughput to the controller`, unit: 'MB/s', ours: bytes / 1e6 / secs, anchor: null, anchorName: null, target: '≥ 100 MB/s', met: bytes / 1e6 / secs >= 100, note },
          { bench: 'log-stream', figure: `${mb} MiB log: bytes lost`, unit: 'bytes', ours: lost, anchor: null, anchorName: null, target: '0', met: lost === 0 && closed },
          { bench: 'log-stream', figure: `${mb} MiB log: agent peak RSS`, unit: 'MB', ours: agentPeak, anchor: null, anchorName: null, target: '≤ 150 MB', met: agentPeak <= 150 },
        ];
      } finally {
        await platform.close();
        await stop(agent.proc);
        await stop(controller.proc);
      }
    });
  },
};
