// The chaos suite's verdict: every job final with the outcome its plan asked for, exactly one accepted
// result (the controller's record, cross-checked with what the agents logged and what the scripts
// journaled), attempts recorded, and the accepted attempt's full log verified by checksum.
import { readFileSync } from 'node:fs';
import pLimit from 'p-limit';
import { createKeys } from '../../controller/src/keys.js';
import type { ChaosSystem } from './chaos-system.js';
import { checkJobLog, type PlannedJob } from './chaos-workload.js';
import type { PlatformReply } from './chaos-run.js';

export interface ChaosFindings {
  problems: string[];
  summary: string[];
  /** Counters the tests assert on (chaos must have bitten, or the run proves little). */
  stats: {
    jobs: number;
    final: number;
    succeeded: number;
    failed: number;
    rerun: number;
    staleRefused: number;
    verifiedBytes: number;
  };
}

export interface CheckInput {
  sys: ChaosSystem;
  plan: PlannedJob[];
  ids: Map<number, string>;
  platform: (controller: number, method: string, path: string, body?: unknown) => Promise<PlatformReply>;
  idempotencyViolations: string[];
}

interface AgentSide {
  /** Epochs whose result an agent saw accepted as new (not a duplicate), per job. */
  accepted: Map<string, Set<number>>;
  staleRefused: number;
  duplicates: number;
  leaseLost: number;
  /** Results an agent found in its spool on start, and how many of them were accepted. */
  leftovers: number;
  leftoversDelivered: number;
}

/** What the agents said, from every generation's JSON log lines. */
function readAgentSide(sys: ChaosSystem): AgentSide {
  const side: AgentSide = { accepted: new Map(), staleRefused: 0, duplicates: 0, leaseLost: 0, leftovers: 0, leftoversDelivered: 0 };
  for (const a of sys.agents) {
    for (const p of a.outputs) {
      for (const line of p.output().split('\n')) {
        if (!line.startsWith('{')) continue;
        let rec: { msg?: string; jobId?: string; epoch?: number; duplicate?: boolean; leftover?: boolean };
        try {
          rec = JSON.parse(line);
        } catch {
          continue;
        }
        if (rec.msg === 'result delivered' && rec.jobId && typeof rec.epoch === 'number') {
          if (rec.duplicate) side.duplicates++;
          else {
            const set = side.accepted.get(rec.jobId) ?? new Set<number>();
            set.add(rec.epoch);
            side.accepted.set(rec.jobId, set);
          }
          if (rec.leftover) side.leftoversDelivered++;
        } else if (rec.msg === 'delivering a result spooled by an earlier run') side.leftovers++; else if (rec.msg === 'result refused: another attempt owns the job') side.staleRefused++;
        else if (rec.msg === 'lease lost to another attempt; stopping') side.leaseLost++;
      }
    }
  }
  return side;
}

/** Attempts whose script started, per job, from the journal every chaos-job appends to. */
function readJournal(path: string): Map<string, Set<number>> {
  const started = new Map<string, Set<number>>();
  let text = '';
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return started;
  }
  for (const line of text.split('\n')) {
    const [id, attempt] = line.split(' ');
    if (!id || !attempt) continue;
    const set = started.get(id) ?? new Set<number>();
    set.add(Number(attempt));
    started.set(id, set);
  }
  return started;
}

async function fetchLog(input: CheckInput, id: string): Promise<string> {
  const parts: Buffer[] = [];
  let offset = 0;
  for (;;) {
    const r = await input.platform(0, 'GET', `/v1/jobs/${id}/log?offset=${offset}`);
    if (r.status !== 200) throw new Error(`GET log of ${id}: ${r.status}`);
    const bytes = Buffer.from(r.text);
    parts.push(bytes);
    const nextOffset = Number(r.headers.get('x-log-next-offset'));
    if (bytes.length === 0 || !(nextOffset > offset)) break;
    offset = nextOffset;
  }
  return Buffer.concat(parts).toString();
}

export async function checkChaosRun(input: CheckInput): Promise<ChaosFindings> {
  const { sys, plan, ids } = input;
  const problems: string[] = [...input.idempotencyViolations.map((v) => `idempotency key gave two jobs: ${v}`)];
  const keys = createKeys('httpagent');
  const redis = sys.redisClient();
  const agentSide = readAgentSide(sys);
  const journal = readJournal(sys.journal);
  const states: Record<string, number> = {};
  const attempts: Record<number, number> = {};
  let rerun = 0;
  let verifiedBytes = 0;
  let markers = 0;
  const limit = pLimit(16);

  try {
    await Promise.all(
      plan.map((job) =>
        limit(async () => {
          const id = ids.get(job.n);
          if (!id) return void problems.push(`job #${job.n} (${job.idempotencyKey}) was never accepted by POST /v1/jobs`);
          const r = await input.platform(job.n % sys.controllers.length, 'GET', `/v1/jobs/${id}`);
          if (r.status !== 200) return void problems.push(`${id}: GET /v1/jobs/:id answered ${r.status}`);
          const view = r.json as { state: string; attempt: number; agent: string | null; error: string | null; steps: { state: string; exitCode: number | null }[] };
          states[view.state] = (states[view.state] ?? 0) + 1;
          attempts[view.attempt] = (attempts[view.attempt] ?? 0) + 1;
          if (view.attempt > 1) rerun++;
          if (!['succeeded', 'failed', 'cancelled'].includes(view.state)) {
            // Enough to tell a lost wake-up from a job missing from its queue.
            const [q, sel] = await redis.hmget(keys.job(id), 'q', 'sel');
            const inQueue = q ? await redis.zscore(`${keys.base}${q}`, id) : null;
            const selKnown = sel ? await redis.sismember(keys.selectors, sel) : 1;
            return void problems.push(`${id}: still ${view.state} (attempt ${view.attempt}; target ${JSON.stringify(job.target)}; ${q} ${inQueue === null ? 'does not hold it' : 'holds it'}${sel ? `; selector ${selKnown ? 'listed' : 'NOT listed'}` : ''}; ${view.error ?? ''})`);
          }
          if (view.state !== job.expect) return void problems.push(`${id}: ${view.state}, expected ${job.expect} (attempt ${view.attempt}; ${view.error ?? 'no error'})`);

          // Exactly one accepted result: the controller's own count of accepted completions, the epoch it
          // accepted, and the agents' logs must all tell the same story.
          const [doneEpoch, accepted, epoch] = await redis.hmget(keys.job(id), 'doneEpoch', 'accepted', 'epoch');
          if (Number(accepted) !== 1) problems.push(`${id}: ${accepted ?? 0} completions accepted, expected exactly 1`);
          if (Number(doneEpoch) !== Number(epoch) || Number(epoch) !== view.attempt) {
            problems.push(`${id}: accepted epoch ${doneEpoch}, current epoch ${epoch}, attempt ${view.attempt}: the accepted result is not the last attempt's`);
          }
          const seen = agentSide.accepted.get(id);
          if (seen && seen.size > 1) problems.push(`${id}: agents saw results of epochs ${[...seen].join(', ')} all accepted`);
          if (seen && !seen.has(Number(doneEpoch))) problems.push(`${id}: an agent saw epoch ${[...seen].join(', ')} accepted, the controller kept ${doneEpoch}`);

          // Attempts recorded: every attempt whose script started is counted in the job's attempt.
          const started = journal.get(id) ?? new Set<number>();
          const maxStarted = Math.max(0, ...started);
          if (maxStarted > view.attempt) problems.push(`${id}: attempt ${maxStarted} ran but the job records ${view.attempt}`);
          if (!started.has(view.attempt)) problems.push(`${id}: the accepted attempt ${view.attempt} never started its script`);
          const lastExit = view.steps.at(-1)?.exitCode;
          if (job.expect === 'failed' && lastExit !== 3) problems.push(`${id}: failed with exit code ${lastExit}, expected 3`);

          const log = await fetchLog(input, id);
          const check = checkJobLog(log, { id, attempt: view.attempt, agent: view.agent }, job);
          if (!check.ok) problems.push(`${id}: log: ${check.problem}`);
          verifiedBytes += check.verifiedBytes;
          markers += check.markers;
        }).catch((err: unknown) => void problems.push(`job #${job.n}: check failed: ${(err as Error).message}`)),
      ),
    );
  } finally {
    redis.disconnect();
  }

  problems.push(...sys.stuck());
  for (const e of sys.unexpectedExits()) problems.push(`${e.name} exited by itself (${e.code}): ${e.tail.split('\n').slice(-4).join(' | ')}`);
  const controllerText = sys.controllers.flatMap((c) => c.outputs.map((p) => p.output())).join('\n');
  if (/CROSSSLOT/.test(controllerText)) problems.push('a controller logged CROSSSLOT');
  const errorLines = controllerText.split('\n').filter((l) => l.includes('"level":50'));

  const final = (states.succeeded ?? 0) + (states.failed ?? 0) + (states.cancelled ?? 0);
  const summary = [
    `jobs planned ${plan.length}, accepted by the platform API ${ids.size}, final ${final}: ${Object.entries(states).map(([s, n]) => `${s} ${n}`).join(', ')}`,
    `attempts per job: ${Object.entries(attempts).map(([a, n]) => `${a}×${n}`).join(', ')}; jobs run more than once: ${rerun}; attempt markers in logs: ${markers}`,
    `agents: results accepted ${[...agentSide.accepted.values()].reduce((n, s) => n + s.size, 0)}, duplicates answered as such ${agentSide.duplicates}, refused as stale (409) ${agentSide.staleRefused}, runs stopped on lease loss ${agentSide.leaseLost}, results found spooled after an agent restart ${agentSide.leftovers} (accepted ${agentSide.leftoversDelivered}, the rest refused as stale)`,
    `logs: ${(verifiedBytes / 1e6).toFixed(2)} MB of script output verified by sha256 and byte count`,
    `controllers: ${errorLines.length} error-level log lines${errorLines.length ? ` (first: ${errorLines[0]!.slice(0, 200)})` : ''}`,
  ];
  return {
    problems,
    summary,
    stats: { jobs: plan.length, final, succeeded: states.succeeded ?? 0, failed: states.failed ?? 0, rerun, staleRefused: agentSide.staleRefused, verifiedBytes },
  };
}
