// The agent's job loop: register, deliver what an earlier run left, claim, run, renew, report, drain.
// The parts live in their own modules; this one owns the lifecycle and the bookkeeping between them.
import { randomUUID } from 'node:crypto';
import pLimit from 'p-limit';
import { parseListen, type AgentConfig } from '../../shared/config/index.js';
import { createControllerClient, type ControllerClient, type SubmitReply } from '../controller-client/index.js';
import type { ReleasesResource } from '../controller-client/releases.js';
import { credentialPath } from '../../shared/credential-file.js';
import type { Logger } from '../../shared/log.js';
import type { AgentIdentity } from '../identity/agent-identity.js';
import type { PortKeyRing } from '../identity/port-key-ring.js';
import type { AgentMetrics } from '../agent-metrics.js';
import { readCommit, version } from '../../shared/package-info.js';
import type { ClaimedJob } from '../../shared/protocol/agent-api.js';
import type { JobSpec, JobSubmit, JobView } from '../../shared/protocol/job.js';
import type { TaskLauncher } from '../tasks/task-launcher.js';
import { runClaimLoop } from './claim-loop.js';
import { createClaimPause } from './claim-pause.js';
import { createCompleteBatcher } from './complete-batcher.js';
import { startJobRun, type JobRun } from './job-runner.js';
import { startLeaseKeeper, type HeldLease, type LeaseKeeper } from './lease-keeper.js';
import { handleLeftover } from './leftovers.js';
import { buildRegisterRequest, createRegistration } from './registration.js';
import { deliverResult } from './result-delivery.js';
import { createResultSpool, type ResultSpool } from './result-spool.js';
import { createSlotPool } from './slot-pool.js';

/**
 * starting: reading the spool · registering: enrolling if it has no credential yet, then waiting for
 * the controller to take the registration · running: claiming and running jobs · draining: finishing
 * what it holds, claiming nothing new · revoked: the controller revoked its credential; it calls the
 * controller no more and waits for an operator, its port still up · stopped: nothing runs;
 * undelivered results stay spooled for the next start.
 */
export type AgentLifecycle = 'starting' | 'registering' | 'running' | 'draining' | 'revoked' | 'stopped';

export type AgentJobConfig = AgentConfig & { tasksDir: string };

export interface AgentDeps {
  logger: Logger;
  metrics: AgentMetrics;
  /** Starts each step: its account (tasks.yaml, taskUser), clean environment and recorded process group. */
  tasks: TaskLauncher;
  /** The credential every controller call carries (enrolled first if there is none yet). */
  identity: AgentIdentity;
  /** Port-token keys: each registration brings the controller's current list. */
  portKeys: PortKeyRing;
  /** Built from the config and identity when absent. */
  client?: ControllerClient;
}

export interface AgentStatus {
  agentId: string;
  state: AgentLifecycle;
  running: number;
  capacity: number;
  /** Finished jobs whose result waits for the controller. */
  undelivered: number;
  controllerReachable: boolean;
  draining: boolean;
  revoked: boolean;
  /** Claims paused (self-update waiting for the running jobs); jobs already claimed run on. */
  paused: boolean;
}

export interface Agent {
  readonly state: AgentLifecycle;
  readonly runningJobs: number;
  readonly controllerReachable: boolean;
  readonly draining: boolean;
  /** The controller revoked this agent's credential (it stays so until restarted with a new one). */
  readonly revoked: boolean;
  status(): AgentStatus;
  /** Reads the spool and starts registering; resolves without waiting for the controller. */
  start(): Promise<void>;
  /** Resolves once registered and claiming (for tests and start-up logs). */
  ready(): Promise<void>;
  /** Graceful: stop claiming, let jobs finish within drainGraceSec, stop the rest, deliver, stop. */
  drain(): Promise<void>;
  /**
   * No new claim starts (nor complete-and-claim); resolves once no claim is in flight. A claim in flight
   * is not aborted: the jobs it brings run, and are counted in runningJobs when this resolves.
   */
  pauseClaims(): Promise<void>;
  /** Claims again after pauseClaims() (e.g. a self-update was put off or failed). */
  resumeClaims(): void;
  /** Forced: kill every step's tree now; undelivered results stay spooled. */
  stop(): Promise<void>;
  /** Queues a job for this agent at the controller (POST /v1/agent/jobs, with the agent's own credential). */
  submitJob(spec: JobSubmit | JobSpec): Promise<SubmitReply>;
  /** A job this agent queued for itself (GET /v1/agent/jobs/:id); rejects with JOB_NOT_FOUND once expired. */
  getJob(id: string): Promise<JobView>;
  /** The release channel, with this agent's credential (bundle self-update). */
  readonly releases: ReleasesResource;
}

/** How long a drain waits for results to reach an unreachable controller before leaving them spooled. */
const DELIVERY_WAIT_MS = 10_000;

/** Waits for `p` at most `ms`; true if it settled. The timer is cleared, so it never holds the process open. */
async function within(p: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<false>((r) => (timer = setTimeout(() => r(false), Math.max(0, ms))));
  try {
    return await Promise.race([p.then(() => true, () => true), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

export function createAgent(config: AgentJobConfig, deps: AgentDeps): Agent {
  const logger = deps.logger.child({ component: 'jobs', agentId: config.agentId });
  const client =
    deps.client ??
    createControllerClient({
      controllerUrl: config.controllerUrl,
      credential: deps.identity.bearer,
      connections: config.concurrency + 8,
      onRevoked: () => revoke(),
      channel: {
        logger: deps.logger.child({ component: 'channel' }),
        onOpen: (open) => deps.metrics.channelOpen.set(open ? 1 : 0),
        onCall: (transport) => deps.metrics.controllerCalls.inc({ transport }),
      },
    });
  const stopping = new AbortController(); // aborted when the agent stops for good
  const slots = createSlotPool(config.concurrency);
  const claimPause = createClaimPause();
  const limit = pLimit(config.concurrency);
  const runs = new Map<string, JobRun>();
  const held = new Map<string, HeldLease>(); // running + finished-but-undelivered
  const work = new Set<Promise<unknown>>();
  let state: AgentLifecycle = 'starting';
  let revoked = false;
  let reachable = false;
  let graceOver = false;
  let spool: ResultSpool | undefined;
  let keeper: LeaseKeeper | undefined;
  let claimLoop: Promise<void> = Promise.resolve();
  let drained: Promise<void> | undefined;
  let readyResolve: () => void = () => undefined;
  const readyP = new Promise<void>((r) => (readyResolve = r));

  const key = (l: HeldLease) => `${l.id}\u0000${l.epoch}`;
  const setState = (s: AgentLifecycle) => {
    if (state === s) return;
    logger.info({ from: state, to: s }, 'agent state');
    state = s;
  };
  const track = <T>(p: Promise<T>): Promise<T> => {
    work.add(p);
    void p.finally(() => work.delete(p)).catch(() => undefined);
    return p;
  };
  const chunkMaxBytes = () => Math.min(registration.current?.logChunkMaxBytes ?? 1024 * 1024, 1024 * 1024);

  const facts = { agentId: config.agentId, port: parseListen(config.listen).port, version, commit: readCommit(), labels: config.labels, capacity: config.concurrency, leaseMs: config.leaseMs };
  const registration = createRegistration({
    agents: client.agents,
    request: () => buildRegisterRequest(facts),
    enrolled: () => deps.identity.ensure(stopping.signal),
    onRegistered: (res) => deps.portKeys.update(res.portKeys),
    credentialFile: credentialPath(config.stateDir),
    logger,
    signal: stopping.signal,
  });
  // Results of jobs ending together go to the controller as one batched complete-and-claim.
  const batcher = createCompleteBatcher({
    send: (req) => client.jobs.completeBatch(req),
    logger,
    signal: stopping.signal,
  });

  function startJobs(jobs: ClaimedJob[]): void {
    for (const job of jobs) {
      const lease = { id: job.id, epoch: job.epoch };
      const run = startJobRun(job, {
        tasks: deps.tasks,
        killGraceMs: config.killGraceMs,
        stepTimeoutSec: config.stepTimeoutSec,
        chunkMaxBytes: chunkMaxBytes(),
        jobs: client.jobs,
        spool: spool!,
        logger,
        metrics: deps.metrics,
      });
      runs.set(key(lease), run);
      held.set(key(lease), lease);
      if (graceOver) run.stop('shutdown');
      track(limit(() => finishJob(run, lease)));
    }
  }

  async function finishJob(run: JobRun, lease: HeldLease): Promise<void> {
    // The job's slot stays taken until it is given back here or handed on to a job that
    // complete-and-claim brought; `owned` counts what this function must still give back.
    let owned = 1;
    try {
      const end = await run.done;
      runs.delete(key(lease));
      if (end.kind === 'stale') return;
      let claim: { agentId: string; max: number; claimId: string } | undefined;
      if (state === 'running' && !claimPause.paused) {
        // Complete-and-claim: the freed slot, and any other free one, ask for the next jobs in the
        // same round trip as the result.
        owned += slots.reserveAll();
        claim = { agentId: config.agentId, max: owned, claimId: randomUUID() };
      } else {
        slots.release(owned);
        owned = 0;
      }
      const handOver = async () => {
        const outcome = await deliverResult(
          { spool: end.spool, log: end.log, result: end.result, logAcked: end.logAcked, ...(claim ? { claim } : {}) },
          { jobs: client.jobs, chunkMaxBytes: chunkMaxBytes(), logger: run.logger, signal: stopping.signal, batcher },
        );
        if (outcome.status === 'accepted') reachable = true;
        const next = outcome.jobs.slice(0, owned);
        slots.release(owned - next.length);
        owned = 0;
        held.delete(key(lease));
        startJobs(next); // each takes one of the slots kept above
      };
      // A result carrying a claim is a claim in flight: a pause waits for it and the jobs it brings.
      await (claim ? claimPause.during(handOver) : handOver());
    } catch (err) {
      run.logger.error({ err }, 'job run failed inside the agent; its lease will lapse and the controller re-delivers it');
    } finally {
      runs.delete(key(lease));
      held.delete(key(lease));
      slots.release(owned);
    }
  }

  async function deliverLeftovers(): Promise<void> {
    const left = await spool!.leftovers();
    if (left.length === 0) return;
    logger.info({ count: left.length }, 'delivering spooled jobs from an earlier run');
    for (const l of left) if (l.result) held.set(key(l.meta), { id: l.meta.id, epoch: l.meta.epoch });
    await Promise.all(
      left.map((l) =>
        handleLeftover(l, { jobs: client.jobs, chunkMaxBytes: chunkMaxBytes(), killGraceMs: config.killGraceMs, logger, signal: stopping.signal })
          .catch((err: unknown) => logger.error({ err, jobId: l.meta.id }, 'spooled job not handled'))
          .finally(() => held.delete(key(l.meta))),
      ),
    );
  }

  /**
   * The platform revoked this agent (DELETE /v1/agents/:id) and re-queued its jobs elsewhere: stop them
   * here (their results would be refused), claim nothing, call nothing. The port stays up, so the
   * monitor and the operator see an agent that is alive but takes no work.
   */
  function revoke(): void {
    if (revoked) return;
    revoked = true;
    logger.error(
      { running: runs.size },
      `the controller revoked this agent's credential (DELETE /v1/agents/${config.agentId}): it claims no more jobs and stops the ones it runs, which the controller queued again. To bring it back: delete ${credentialPath(config.stateDir)}, give it an enrollment token (enrollTokenFile) and restart it`,
    );
    if (state !== 'stopped') setState('revoked');
    keeper?.stop();
    for (const run of runs.values()) run.stop('stale');
    // Wakes a claim loop waiting for a slot or at a pause gate; it sees the state and ends.
    slots.wake();
    claimPause.open();
  }

  async function boot(): Promise<void> {
    try {
      await deps.identity.ensure(stopping.signal);
      await registration.ensure();
    } catch (err) {
      // Stopped before the controller ever answered, or revoked; anything else is a bug worth a line.
      if (!stopping.signal.aborted && !revoked) logger.error({ err }, 'cannot enroll or register; the agent takes no work until restarted');
      return;
    }
    reachable = true;
    await track(deliverLeftovers());
    if (state !== 'registering') return;
    setState('running');
    readyResolve();
    claimLoop = runClaimLoop({
      agentId: config.agentId,
      claims: client.claims,
      registration,
      slots,
      claiming: () => state === 'running',
      pause: claimPause,
      claimWaitMs: config.claimWaitMs,
      onJobs: startJobs,
      onReachable: (r) => (reachable = r),
      logger,
    }).catch((err: unknown) => logger.error({ err }, 'claim loop ended'));
  }

  const forceKill = () => {
    for (const run of runs.values()) run.stop('shutdown');
  };

  const agent: Agent = {
    get state() {
      return state;
    },
    get runningJobs() {
      return runs.size;
    },
    get controllerReachable() {
      return reachable;
    },
    get draining() {
      return state === 'draining';
    },
    get revoked() {
      return revoked;
    },
    status: () => ({
      agentId: config.agentId,
      state,
      running: runs.size,
      capacity: config.concurrency,
      undelivered: held.size - runs.size,
      controllerReachable: reachable,
      draining: state === 'draining',
      revoked,
      paused: claimPause.paused,
    }),
    async start() {
      spool = await createResultSpool(config.stateDir);
      setState('registering');
      keeper = startLeaseKeeper({
        agentId: config.agentId,
        agents: client.agents,
        registration,
        leases: () => [...held.values()],
        running: () => runs.size,
        state: () => (state === 'draining' ? 'draining' : 'online'),
        onStatus: (lease, status) => {
          const run = runs.get(key(lease));
          if (!run) return; // already finished: its result will learn the same on delivery
          run.logger.warn({ status }, status === 'cancel' ? 'cancel requested' : 'lease lost to another attempt; stopping');
          run.stop(status === 'cancel' ? 'cancel' : 'stale');
        },
        onReachable: (r) => (reachable = r),
        leaseMs: () => registration.current?.leaseMs ?? config.leaseMs,
        metrics: deps.metrics,
        logger,
      });
      void boot();
    },
    ready: () => readyP,
    drain() {
      drained ??= (async () => {
        if (state === 'starting' || state === 'registering') {
          stopping.abort();
        }
        setState('draining');
        slots.wake();
        claimPause.open(); // a paused claim loop sees the drain and ends
        // Tell the controller now (operators watch `httpagent agents` during a drain); tracked so the
        // agent does not exit before it was said.
        if (keeper && !revoked) void track(keeper.beat());
        const graceEnd = Date.now() + config.drainGraceSec * 1000;
        // A claim in flight is not aborted: wait for it and run whatever it brings.
        await claimLoop;
        const left = graceEnd - Date.now();
        if (runs.size > 0 && left > 0) await within(Promise.all([...runs.values()].map((r) => r.done)), left);
        if (runs.size > 0) logger.warn({ running: runs.size }, 'drain grace over; stopping the jobs still running');
        graceOver = true;
        forceKill();
        // Results go out now if the controller is there; otherwise they stay spooled for the next start.
        // (the stopped jobs first get their SIGTERM grace, then their results are sent)
        if (!(await within(Promise.all([...work]), config.killGraceMs + DELIVERY_WAIT_MS))) logger.warn({ undelivered: held.size }, 'controller unreachable; results stay spooled');
        stopping.abort();
        await Promise.all([...work]).catch(() => undefined);
        keeper?.stop();
        setState('stopped');
        await client.close().catch(() => undefined);
      })();
      return drained;
    },
    async stop() {
      graceOver = true;
      stopping.abort();
      // Exiting at once leaves no time for SIGTERM's grace: SIGKILL every step's group now.
      for (const run of runs.values()) {
        try {
          if (run.pid) process.kill(-run.pid, 'SIGKILL');
        } catch {
          // already gone
        }
      }
      forceKill();
      keeper?.stop();
      setState('stopped');
      slots.wake();
      claimPause.open();
      await within(Promise.all([...work]), 2_000);
      await client.close().catch(() => undefined);
    },
    pauseClaims() {
      if (!claimPause.paused) logger.info('claims paused');
      return claimPause.pause();
    },
    resumeClaims() {
      if (claimPause.paused) logger.info('claims resumed');
      claimPause.resume();
    },
    async submitJob(spec) {
      // For this agent by id (the controller refuses labels here: they could only make the job match
      // no one). JSON drops undefined fields.
      const { labels: _labels, ...rest } = spec;
      return client.own.submit(JSON.parse(JSON.stringify({ ...rest, agent: config.agentId })) as JobSubmit);
    },
    getJob: (id) => client.own.get(id),
    releases: client.releases,
  };
  return agent;
}
