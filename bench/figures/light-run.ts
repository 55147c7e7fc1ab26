// Figure 1: light task round trip. POST /v1/run of `true` on a real `httpagent agent` process vs `ssh
// true` to a private sshd on loopback, fresh and multiplexed (ControlMaster); then 200 concurrent
// callers for 10 s (quick: 3 s): throughput, p99, and no errors besides the designed 429s.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { Agent, request } from 'undici';
import { benchTasksDir, type Figure } from '../lib/figure.js';
import type { Row } from '../lib/report.js';
import { startSshd, sshdAvailable } from '../lib/sshd.js';
import { now, summarize, type Summary } from '../lib/stats.js';
import { portToken, startAgent, stop } from '../lib/system.js';
import { freePort } from '../../test/helpers/ports.js';

const run = promisify(execFile);

async function sequential(n: number, warmup: number, fn: () => Promise<void>): Promise<Summary> {
  for (let i = 0; i < warmup; i++) await fn();
  const samples: number[] = [];
  for (let i = 0; i < n; i++) {
    const t = now();
    await fn();
    samples.push(now() - t);
  }
  return summarize(samples);
}

export const lightRun: Figure = {
  name: 'light-run',
  async run(ctx) {
    // No controller is needed for light tasks: the agent points at a closed port and keeps serving.
    const agent = await startAgent(`http://127.0.0.1:${await freePort()}`, 'light-agent', { HTTPAGENT_TASKS_DIR: benchTasksDir, HTTPAGENT_LOG_LEVEL: 'error' });
    const dispatcher = new Agent({ connections: 256, keepAliveTimeout: 30_000 });
    const token = await portToken('light-agent');
    const call = async (): Promise<{ status: number; retryAfterSec: number }> => {
      const res = await request(`${agent.url}/v1/run`, {
        method: 'POST',
        dispatcher,
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: '{"task":"true"}',
      });
      await res.body.dump();
      return { status: res.statusCode, retryAfterSec: Number(res.headers['retry-after'] ?? 1) };
    };
    const rows: Row[] = [];
    try {
      const http = await sequential(ctx.quick ? 50 : 300, 20, async () => {
        const { status } = await call();
        if (status !== 200) throw new Error(`POST /v1/run answered ${status}`);
      });
      ctx.detail('http', http);
      let fresh: Summary | undefined;
      let mux: Summary | undefined;
      if (sshdAvailable()) {
        const sshd = await startSshd();
        try {
          fresh = await sequential(ctx.quick ? 8 : 40, 1, async () => void (await run('ssh', sshd.freshArgs('true'))));
          mux = await sequential(ctx.quick ? 20 : 150, 3, async () => void (await run('ssh', sshd.muxArgs('true'))));
        } finally {
          await sshd.stop();
        }
        ctx.detail('sshFresh', fresh);
        ctx.detail('sshMux', mux);
      } else {
        ctx.log('openssh-server not installed: ssh anchors skipped');
      }
      const note = 'real `httpagent agent` process, keep-alive HTTP; ssh: private sshd on 127.0.0.1, ed25519 key, `ssh user@127.0.0.1 true`';
      rows.push(
        { bench: 'light-run', figure: 'POST /v1/run true vs ssh fresh, median', unit: 'ms', ours: http.median, anchor: fresh?.median ?? null, anchorName: 'ssh fresh', target: '≤ 1/20 of fresh', met: fresh ? http.median <= fresh.median / 20 : null, note },
        { bench: 'light-run', figure: 'POST /v1/run true vs ssh fresh, p99', unit: 'ms', ours: http.p99, anchor: fresh?.p99 ?? null, anchorName: 'ssh fresh', target: '≤ 1/20 of fresh', met: fresh ? http.p99 <= fresh.p99 / 20 : null },
        { bench: 'light-run', figure: 'POST /v1/run true vs ssh ControlMaster, median', unit: 'ms', ours: http.median, anchor: mux?.median ?? null, anchorName: 'ssh mux', target: '≤ 1/4 of mux', met: mux ? http.median <= mux.median / 4 : null },
        { bench: 'light-run', figure: 'POST /v1/run true vs ssh ControlMaster, p99', unit: 'ms', ours: http.p99, anchor: mux?.p99 ?? null, anchorName: 'ssh mux', target: '≤ 1/4 of mux', met: mux ? http.p99 <= mux.p99 / 4 : null },
      );

      // 200 callers in a closed loop: each sends its next call when the previous answer arrives and,
      // after a 429, waits the Retry-After it was given, as a well-behaved client does.
      const callers = 200;
      const seconds = ctx.quick ? 2 : 10;
      const ok: number[] = [];
      let refused = 0;
      let errors = 0;
      const end = now() + seconds * 1000;
      await Promise.all(
        Array.from({ length: callers }, async () => {
          while (now() < end) {
            const t = now();
            try {
              const { status, retryAfterSec } = await call();
              if (status === 200) ok.push(now() - t);
              else if (status === 429) {
                refused++;
                await new Promise((r) => setTimeout(r, retryAfterSec * 1000));
              } else errors++;
            } catch {
              errors++;
            }
          }
        }),
      );
      const s = summarize(ok);
      ctx.detail('callers200', { seconds, completed: ok.length, refused429: refused, errors, ...s });
      const burstNote = `${callers} callers × ${seconds} s, default pool (8 running, 64 queued): ${ok.length} done, ${refused} designed 429s, ${errors} errors; p99 ${s.p99.toFixed(1)} ms`;
      rows.push(
        { bench: 'light-run', figure: '200 concurrent callers, throughput', unit: 'runs/s', ours: ok.length / seconds, anchor: null, anchorName: null, target: '0 errors (429s allowed)', met: errors === 0, note: burstNote },
        { bench: 'light-run', figure: '200 concurrent callers, p99 of answered', unit: 'ms', ours: s.p99, anchor: null, anchorName: null, target: 'report', met: null },
      );
    } finally {
      await dispatcher.close();
      await stop(agent.proc);
    }
    return rows;
  },
};
