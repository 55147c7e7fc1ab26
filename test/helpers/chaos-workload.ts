// The chaos suite's jobs: a seeded plan of jobs of random length, log volume, target and outcome, and the
// check of one finished job's log against what its task script (test/fixtures/chaos-tasks/chaos-job) wrote.
import { createHash } from 'node:crypto';

export interface WorkloadShape {
  /** Upper bounds: chunks per step, lines per chunk (~70 bytes each), pause between chunks (s). */
  maxChunks: number;
  maxLines: number;
  maxPauseSec: number;
  /** Share of jobs with a big log (maxLines × 20 per chunk). */
  bigShare: number;
}

export interface PlannedStep {
  chunks: number;
  lines: number;
  pause: string;
  exit: number;
}

export interface PlannedJob {
  n: number;
  idempotencyKey: string;
  steps: PlannedStep[];
  target: { agent?: string; labels?: Record<string, string> };
  /** What the job must end as: a step exiting 3 fails the job. */
  expect: 'succeeded' | 'failed';
  body: Record<string, unknown>;
}

/** mulberry32: small, seeded, good enough to make a run reproducible from its seed. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function planJobs(count: number, opts: { seed: number; runId: string; journal: string; agentIds: string[]; shape: WorkloadShape }): PlannedJob[] {
  const rnd = seededRandom(opts.seed);
  const int = (lo: number, hi: number) => lo + Math.floor(rnd() * (hi - lo + 1));
  const jobs: PlannedJob[] = [];
  for (let n = 0; n < count; n++) {
    const nsteps = rnd() < 0.15 ? 2 : 1;
    const steps: PlannedStep[] = [];
    for (let s = 0; s < nsteps; s++) {
      const big = rnd() < opts.shape.bigShare;
      steps.push({
        chunks: int(1, opts.shape.maxChunks),
        lines: big ? int(opts.shape.maxLines, opts.shape.maxLines * 20) : int(0, opts.shape.maxLines),
        pause: (rnd() * opts.shape.maxPauseSec).toFixed(2),
        exit: 0,
      });
    }
    // A few jobs fail on purpose (their last step exits 3), so a failure is checked as closely as a success.
    const fails = rnd() < 0.05;
    if (fails) steps[steps.length - 1]!.exit = 3;
    const pick = rnd();
    const target = pick < 0.1 ? { agent: opts.agentIds[int(0, opts.agentIds.length - 1)]! } : pick < 0.3 ? { labels: { zone: rnd() < 0.5 ? 'a' : 'b' } } : {};
    const idempotencyKey = `${opts.runId}-${n}`;
    jobs.push({
      n,
      idempotencyKey,
      steps,
      target,
      expect: fails ? 'failed' : 'succeeded',
      body: {
        steps: steps.map((st) => ({
          task: 'chaos-job',
          params: { chunks: String(st.chunks), lines: String(st.lines), pause: st.pause, exit: String(st.exit), journal: opts.journal },
          timeoutSec: 120,
        })),
        ...target,
        // Chaos may cost a job several attempts; none of them may run out because of it.
        maxAttempts: 50,
        idempotencyKey,
      },
    });
  }
  return jobs;
}

/** The bytes step `step` of attempt `attempt` of job `id` writes before its check line. */
export function expectedStepBytes(id: string, attempt: number, step: number, st: PlannedStep): number {
  let total = 0;
  for (let i = 0; i < st.chunks * st.lines; i++) total += `${id} ${attempt} ${step} ${String(i).padStart(8, '0')} the quick brown fox jumps over the lazy dog\n`.length;
  return total;
}

export interface LogCheck {
  ok: boolean;
  /** Why not, when not ok. */
  problem?: string;
  /** Attempt markers the controller wrote into the log (one per attempt after the first). */
  markers: number;
  /** Bytes of script output verified by checksum. */
  verifiedBytes: number;
}

const MARKER = /\n--- httpagent: attempt (\d+) on agent (\S+) ---\n/g;
const CHECK = /^chaos-check sha256=([0-9a-f]{64}) bytes=(\d+)$/;

/**
 * The log of the accepted attempt is the part after the last attempt marker. Each step's lines there must
 * hash to the sha256 its check line states, count the bytes it states, and match what the plan asked for.
 */
export function checkJobLog(log: string, job: { id: string; attempt: number; agent: string | null }, plan: PlannedJob): LogCheck {
  const marks = [...log.matchAll(MARKER)];
  const last = marks.at(-1);
  const fail = (problem: string): LogCheck => ({ ok: false, problem, markers: marks.length, verifiedBytes: 0 });
  if (job.attempt > 1 && (!last || Number(last[1]) !== job.attempt)) return fail(`no marker for attempt ${job.attempt} (last marker: ${last?.[1] ?? 'none'})`);
  if (last && last[2] !== job.agent) return fail(`the last marker names agent ${last[2]}, the job says ${job.agent}`);
  const segment = last ? log.slice(last.index! + last[0].length) : log;
  let verified = 0;
  const lines = segment.split('\n');
  for (let s = 0; s < plan.steps.length; s++) {
    const st = plan.steps[s]!;
    const prefix = `${job.id} ${job.attempt} ${s} `;
    const mine = lines.filter((l) => l.startsWith(prefix));
    const checks = lines.filter((l) => CHECK.test(l));
    const check = checks[s] ? CHECK.exec(checks[s]!) : null;
    if (!check) return fail(`step ${s}: no check line in the accepted attempt's log`);
    const content = mine.map((l) => `${l}\n`).join('');
    const sha = createHash('sha256').update(content).digest('hex');
    const bytes = Buffer.byteLength(content);
    if (Number(check[2]) !== bytes) return fail(`step ${s}: log holds ${bytes} bytes of output, the script wrote ${check[2]}`);
    if (check[1] !== sha) return fail(`step ${s}: checksum of the log's output differs from the script's`);
    const want = expectedStepBytes(job.id, job.attempt, s, st);
    if (bytes !== want) return fail(`step ${s}: the script wrote ${bytes} bytes, the plan asked for ${want}`);
    verified += bytes;
  }
  const foreign = lines.filter((l) => l.startsWith(`${job.id} `) && !l.startsWith(`${job.id} ${job.attempt} `));
  if (foreign.length > 0) return fail(`${foreign.length} lines of another attempt inside the accepted attempt's log`);
  return { ok: true, markers: marks.length, verifiedBytes: verified };
}
