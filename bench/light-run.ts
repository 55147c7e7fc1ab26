// Light task figures: POST /v1/run of `true` vs ssh (fresh and ControlMaster) against a private sshd
// on loopback, and 200 concurrent callers for 10 s. Run: node --import tsx bench/light-run.ts [--quick]
// The agent port runs in a child process (this file with --serve), so the load generator does not
// share its event loop with the server it measures.
import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { Agent, request } from 'undici';
import { startSshd, sshdAvailable } from './lib/sshd.js';
import { now, round, summarize, type Summary } from './lib/stats.js';

const TOKEN = 'bench-token-0123456789abcdef';
const run = promisify(execFile);

async function serve(): Promise<void> {
  const { agentConfigSchema } = await import('../src/config/agent-config.js');
  const { buildAgentServer } = await import('../src/http/agent-server.js');
  const { silentLogger } = await import('../src/log.js');
  const { createAgentMetrics } = await import('../src/metrics/agent-metrics.js');
  const { scriptBaseEnv } = await import('../src/tasks/task-process.js');
  const state = mkdtempSync(join(tmpdir(), 'httpagent-bench-'));
  const config = agentConfigSchema.parse({ platformToken: TOKEN, agentToken: TOKEN, stateDir: state });
  const app = buildAgentServer(config, {
    logger: silentLogger(),
    metrics: createAgentMetrics(),
    tasksDir: fileURLToPath(new URL('../test/fixtures/http-tasks', import.meta.url)),
    scriptBaseEnv: scriptBaseEnv(process.env),
    jobs: { running: () => 0, draining: () => false, controllerReachable: () => false, submitJob: async () => ({ id: 'n/a' }) },
    version: 'bench',
    startedAt: Date.now(),
  });
  await app.listen({ port: 0, host: '127.0.0.1' });
  const addr = app.server.address();
  process.stdout.write(`LISTENING ${typeof addr === 'object' && addr ? addr.port : 0} ${config.runConcurrency} ${config.runQueue}\n`);
  process.on('SIGTERM', () => void app.close().then(() => rmSync(state, { recursive: true, force: true })).finally(() => process.exit(0)));
}

async function startServer(): Promise<{ base: string; pool: string; stop: () => void }> {
  const child = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url), '--serve'], { stdio: ['ignore', 'pipe', 'inherit'] });
  const line = await new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /LISTENING (\d+) (\d+) (\d+)/.exec(out);
      if (m) resolve(m[0]);
    });
    child.once('exit', (code) => reject(new Error(`bench server exited with ${code}`)));
  });
  const [, port, conc, queue] = line.split(' ');
  return { base: `http://127.0.0.1:${port}`, pool: `runConcurrency ${conc}, runQueue ${queue}`, stop: () => child.kill('SIGTERM') };
}

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

async function main(): Promise<void> {
  const quick = process.argv.includes('--quick');
  const server = await startServer();
  const dispatcher = new Agent({ connections: 256, keepAliveTimeout: 30_000 });
  const call = async (): Promise<{ status: number; retryAfterSec: number }> => {
    const res = await request(`${server.base}/v1/run`, {
      method: 'POST',
      dispatcher,
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
      body: '{"task":"true"}',
    });
    await res.body.dump();
    return { status: res.statusCode, retryAfterSec: Number(res.headers['retry-after'] ?? 1) };
  };
  const post = async (): Promise<number> => (await call()).status;
  const rows: Array<{ figure: string; median: number; p99: number; n: number }> = [];
  try {
    const http = await sequential(quick ? 50 : 300, 20, async () => {
      if ((await post()) !== 200) throw new Error('POST /v1/run failed');
    });
    rows.push({ figure: 'POST /v1/run true', ...pick(http) });

    if (sshdAvailable()) {
      const sshd = await startSshd();
      try {
        const fresh = await sequential(quick ? 10 : 40, 2, async () => void (await run('ssh', sshd.freshArgs('true'))));
        rows.push({ figure: 'ssh true (fresh)', ...pick(fresh) });
        const mux = await sequential(quick ? 30 : 150, 3, async () => void (await run('ssh', sshd.muxArgs('true'))));
        rows.push({ figure: 'ssh true (ControlMaster)', ...pick(mux) });
        console.log(`ratio fresh/http ${round(fresh.median / http.median, 1)}x (target >= 20), mux/http ${round(mux.median / http.median, 1)}x (target >= 4)`);
      } finally {
        await sshd.stop();
      }
    } else {
      console.log('openssh-server not installed: ssh baselines skipped');
    }

    // 200 callers in closed loop: each sends its next call when the previous answer arrives, and after
    // a 429 waits the Retry-After it was given, as a well-behaved client does.
    const callers = 200;
    const seconds = quick ? 3 : 10;
    const ok: number[] = [];
    let refused = 0;
    let errors = 0;
    const until = now() + seconds * 1000;
    await Promise.all(
      Array.from({ length: callers }, async () => {
        while (now() < until) {
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
    console.log(`\n${callers} concurrent callers for ${seconds} s (${server.pool}, ${cpus().length} cores):`);
    console.log(`  completed ${ok.length} (${round(ok.length / seconds, 0)}/s), p50 ${round(s.median)} ms, p99 ${round(s.p99)} ms; 429 ${refused}; errors ${errors}`);
  } finally {
    await dispatcher.close();
    server.stop();
  }
  console.log('\nround trip (ms):');
  for (const r of rows) console.log(`  ${r.figure.padEnd(28)} median ${String(round(r.median)).padStart(8)}  p99 ${String(round(r.p99)).padStart(8)}  n=${r.n}`);
}

function pick(s: Summary): { median: number; p99: number; n: number } {
  return { median: s.median, p99: s.p99, n: s.n };
}

if (process.argv.includes('--serve')) await serve();
else await main();
