// The chaos suite's driver: starts the system, submits the planned jobs in batches through both
// controllers while chaos events hit agents, controllers and Redis, waits for every job to end, then
// hands over to the checker. Prints a timeline of what it did as it goes.
// Paced by the system, not the clock: a batch goes in when few enough jobs are open (so a slow machine
// gets less work at once instead of a backlog), and each event fires at its share of the plan submitted,
// so chaos meets queued, running and finishing jobs however fast the machine is.
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { createKeys } from '../../controller/src/keys.js';
import { checkChaosRun, type ChaosFindings } from './chaos-check.js';
import { createChaosEvents, type ChaosEventKind } from './chaos-events.js';
import { CHAOS_PLATFORM_TOKEN, startChaosSystem, type ChaosSystem, type ChaosSystemOptions } from './chaos-system.js';
import { platformRequest, type PlatformReply } from './platform-request.js';
import { planJobs, seededRandom, type PlannedJob, type WorkloadShape } from './chaos-workload.js';
import { waitUntil } from './wait.js';

export interface ChaosRunOptions {
  system: ChaosSystemOptions;
  jobs: number;
  /** Jobs per POST /v1/jobs batch. */
  batch: number;
  /** A batch waits until at most this many submitted jobs are still open (not final). */
  maxOpen: number;
  seed: number;
  shape: WorkloadShape;
  /** Run in this order; event i fires once (i + 1) / (events + 1) of the plan is submitted. */
  events: ChaosEventKind[];
  /** How long every job may take to reach a final state once submission and chaos are over. */
  settleTimeoutMs: number;
  print: (line: string) => void;
}

export interface ChaosReport extends ChaosFindings {
  timeline: string[];
  seed: number;
  redis: string;
  elapsedSec: number;
  text: string;
}

export type { PlatformReply };

export function platformCaller(sys: ChaosSystem) {
  return (controller: number, method: string, path: string, body?: unknown): Promise<PlatformReply> =>
    platformRequest(sys.controllers[controller]!.url, CHAOS_PLATFORM_TOKEN, method, path, body, 15_000);
}

export async function runChaos(opts: ChaosRunOptions): Promise<ChaosReport> {
  const t0 = Date.now();
  const timeline: string[] = [];
  const note = (line: string) => {
    const entry = `+${((Date.now() - t0) / 1000).toFixed(1).padStart(6)}s  ${line}`;
    timeline.push(entry);
    opts.print(entry);
  };
  const rnd = seededRandom(opts.seed ^ 0x9e3779b9);
  const pick = <T>(xs: T[]): T => xs[Math.floor(rnd() * xs.length)]!;
  const between = (lo: number, hi: number) => Math.round(lo + rnd() * (hi - lo));

  const sys = await startChaosSystem(opts.system);
  const platform = platformCaller(sys);
  try {
    await Promise.all(sys.controllers.map((c) => sys.startController(c.index)));
    await Promise.all(sys.agents.map((a) => sys.startAgent(a.index)));
    note(`up: ${sys.redisDescription}; ${sys.controllers.length} controllers; agents ${sys.agents.map((a) => `${a.id}→controller ${a.controller}`).join(', ')}; lease ${opts.system.leaseMs} ms; seed ${opts.seed}`);

    const plan = planJobs(opts.jobs, {
      seed: opts.seed,
      runId: `chaos-${randomBytes(4).toString('hex')}`,
      journal: sys.journal,
      agentIds: sys.agents.map((a) => a.id),
      shape: opts.shape,
    });
    const ids = new Map<number, string>();
    const idempotencyViolations: string[] = [];
    let next = 0;
    let batches = 0;
    let submitRetries = 0;
    /** Submitted jobs not yet seen final. */
    const open = new Set<string>();
    const keys = createKeys('httpagent');
    const probe = sys.redisClient();
    probe.on('error', () => undefined); // Redis restarts are part of the run: a failed read is "not yet"
    const refreshOpen = async () => {
      const list = [...open];
      const states = await Promise.all(list.map((id) => probe.hget(keys.job(id), 'state')));
      list.forEach((id, i) => {
        if (['succeeded', 'failed', 'cancelled'].includes(String(states[i]))) open.delete(id);
      });
    };

    /** Submits the next batch via `via`, retrying through either controller until one takes it. */
    const submitBatch = async (via: number): Promise<number> => {
      const slice = plan.slice(next, next + opts.batch);
      next += slice.length;
      if (slice.length === 0) return 0;
      for (let tries = 0; ; tries++) {
        const c = (via + tries) % sys.controllers.length;
        try {
          const r = await platform(c, 'POST', '/v1/jobs', slice.map((j) => j.body));
          if (r.status === 201 && Array.isArray(r.json)) {
            r.json.forEach((res: { id: string }, i: number) => {
              const job = slice[i]!;
              const had = ids.get(job.n);
              if (had && had !== res.id) idempotencyViolations.push(`${job.idempotencyKey}: ${had} then ${res.id}`);
              ids.set(job.n, res.id);
              open.add(res.id);
            });
            batches++;
            return slice.length;
          }
        } catch {
          // controller down or restarting: the same keys go again, and idempotency must give the same jobs
        }
        submitRetries++;
        await sleep(200); // a retry's pause: both controllers may be down for a moment
      }
    };

    const submitting = (async () => {
      try {
        for (let b = 0; next < plan.length; b++) {
          await waitUntil(
            `at most ${opts.maxOpen - opts.batch} open jobs before the next batch`,
            async () => {
              await refreshOpen();
              return open.size + opts.batch <= opts.maxOpen;
            },
            { timeoutMs: opts.settleTimeoutMs, intervalMs: 100 },
          );
          await submitBatch(b % sys.controllers.length);
        }
      } finally {
        probe.disconnect();
      }
      note(`all ${plan.length} jobs submitted in ${batches} batches (${submitRetries} batch retries)`);
    })();

    const events = createChaosEvents({ sys, platform, note, pick, between, submitBatch, leaseMs: opts.system.leaseMs, redisStop: opts.system.redisStop, jobIds: () => [...ids.values()] });

    const chaos = (async () => {
      for (const [i, ev] of opts.events.entries()) {
        if (ev === 'restart-redis' && opts.system.redis !== 'single') {
          note('restart-redis skipped: the cluster variant does not restart its masters (no AOF, no replicas)');
          continue;
        }
        const due = Math.ceil((plan.length * (i + 1)) / (opts.events.length + 1));
        await waitUntil(`${due} jobs submitted before ${ev}`, () => next >= due, { timeoutMs: opts.settleTimeoutMs, intervalMs: 100 });
        await events[ev]();
      }
      note('chaos over');
    })();

    await Promise.all([submitting, chaos]);
    await settle(sys, [...ids.values()], opts.settleTimeoutMs, note);

    const findings = await checkChaosRun({ sys, plan, ids, platform, idempotencyViolations });
    const elapsedSec = (Date.now() - t0) / 1000;
    note(`checked in ${elapsedSec.toFixed(1)} s`);
    const text = renderReport(timeline, findings, { seed: opts.seed, redis: sys.redisDescription, elapsedSec });
    return { ...findings, timeline, seed: opts.seed, redis: sys.redisDescription, elapsedSec, text };
  } finally {
    await sys.stop();
  }
}

/** Waits until every job is final (read straight from Redis: cheap for thousands of jobs). Jobs that never get there are the checker's findings. */
async function settle(sys: ChaosSystem, ids: string[], timeoutMs: number, note: (l: string) => void): Promise<void> {
  const keys = createKeys('httpagent');
  const redis = sys.redisClient();
  let open = ids;
  let lastNote = 0;
  try {
    await waitUntil(
      'every job final',
      async () => {
        const states = await Promise.all(open.map((id) => redis.hget(keys.job(id), 'state').catch(() => 'unknown')));
        open = open.filter((_, i) => !['succeeded', 'failed', 'cancelled'].includes(String(states[i])));
        if (Date.now() - lastNote > 5000) {
          note(`${ids.length - open.length}/${ids.length} jobs final`);
          lastNote = Date.now();
        }
        return open.length === 0;
      },
      { timeoutMs, intervalMs: 300 },
    ).catch(() => undefined);
    note(open.length === 0 ? `every job final` : `${open.length} jobs still not final after ${timeoutMs} ms`);
  } finally {
    redis.disconnect();
  }
}

function renderReport(timeline: string[], f: ChaosFindings, meta: { seed: number; redis: string; elapsedSec: number }): string {
  const lines = ['', '== chaos: what it did', ...timeline, '', '== chaos: what it found', ...f.summary.map((s) => `  ${s}`)];
  lines.push(f.problems.length === 0 ? '  PASS: no problem found' : `  FAIL: ${f.problems.length} problems`);
  for (const p of f.problems.slice(0, 40)) lines.push(`  - ${p}`);
  if (f.problems.length > 40) lines.push(`  ... and ${f.problems.length - 40} more`);
  lines.push(`  (seed ${meta.seed}, ${meta.redis}, ${meta.elapsedSec.toFixed(1)} s)`);
  return lines.join('\n');
}

export type { ChaosEventKind, PlannedJob };
