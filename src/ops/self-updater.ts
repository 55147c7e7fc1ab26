// Self-update: on a croner schedule, fetch the configured branch (git) or ask the controller's release
// channel (bundle, bundle-source.ts); a new release is built or unpacked and self-tested beside the
// running one, then `current` is switched at a quiet moment and the agent exits so its supervisor starts
// the new release. A detached guard rolls back if it is not healthy.
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, openSync } from 'node:fs';
import { basename, join } from 'node:path';
import { Cron } from 'croner';
import type { AgentConfig } from '../shared/config/agent-config.js';
import type { CodeOf } from '../shared/error-codes.js';
import type { Logger } from '../shared/log.js';
import { packageRoot as runningRoot, readCommit } from '../shared/package-info.js';
import { createBundleSource, type BundleOutcome, type ReleaseChannel } from './bundle-source.js';
import type { AlertFn } from './ops-mail.js';
import { selfTestTimeouts } from './release-build.js';
import { DEFAULT_BUILD_STEPS, ReleaseBuildError, fetchHead, prepareRelease, preparedRelease, releaseName } from './release-builder.js';
import { currentRelease, prefixOfRelease, pruneReleases, releaseCommit, releaseLayout, switchCurrent } from './release-layout.js';
import { judgeHead } from './update-policy.js';
import { REFUSED_KEPT, readUpdateState, updateStatePath, writeUpdateState } from './update-state.js';

/** What the job loop offers so a switch never cuts a job short. */
export interface JobActivity {
  /** Heavy jobs running now. */
  running(): number;
  /** Stop claiming new jobs; resolves once no claim is in flight (a claim in flight may still bring a job). */
  pause(): Promise<void>;
  /** Claim again (the switch was put off). */
  resume(): void;
}

export interface SelfUpdaterDeps {
  logger: Logger;
  jobs: JobActivity;
  /** Shut the agent down gracefully and exit 0; the supervisor then starts `current` (the new release). */
  exit(reason: string): void;
  /** The agent's environment and --config file: the new release is self-tested with them, the guard reads them. */
  env: Record<string, string | undefined>;
  configFile?: string | undefined;
  alert?: AlertFn | undefined;
  /** argv that starts the guard; default: this process's own entry point + `update-guard`. */
  guardCommand?: string[] | undefined;
  /** The running release; default: this package's root. */
  packageRoot?: string | undefined;
  buildSteps?: readonly string[][] | undefined;
  /** The controller's release channel, with the agent's credential: what updateSource bundle follows. */
  releases?: ReleaseChannel | undefined;
}

/** disabled: no remote (git) or channel (bundle), or not an installed release · up-to-date · known-bad: the head failed or was refused before · refused: unsigned or older (git), or the channel's bundle or answer was refused (bundle), not built · failed: this try failed · deferred: jobs were running · switched: exiting for the new release · pending: a switch awaits its guard. */
export type UpdateOutcome =
  | { kind: 'disabled'; reason: string }
  | { kind: 'up-to-date'; commit: string }
  | { kind: 'known-bad'; commit: string }
  | { kind: 'refused'; commit: string; code: CodeOf<'UPDATE_UNSIGNED' | 'UPDATE_DOWNGRADE'> }
  | { kind: 'failed'; commit: string; code: CodeOf<'UPDATE_BUILD_FAILED' | 'UPDATE_SELF_TEST_FAILED' | 'UPDATE_GUARD_FAILED'> }
  | { kind: 'deferred'; commit: string }
  | { kind: 'switched'; commit: string }
  | { kind: 'pending'; commit: string }
  | Extract<BundleOutcome, { kind: 'refused' }>;

export interface SelfUpdater {
  start(): void;
  stop(): Promise<void>;
  /** One check now (what each scheduled tick does). */
  checkNow(): Promise<UpdateOutcome>;
}

export function createSelfUpdater(config: AgentConfig, deps: SelfUpdaterDeps): SelfUpdater {
  const log = deps.logger.child({ component: 'self-update' });
  const root = deps.packageRoot ?? runningRoot;
  const prefix = config.updatePrefix ?? prefixOfRelease(root);
  const stateFile = updateStatePath(config.stateDir);
  const cacheDir = join(config.stateDir, 'update', 'repo.git');
  let cron: Cron | undefined;
  let stopped = false;
  let inFlight: Promise<UpdateOutcome> | undefined;
  const bundleMode = config.updateSource === 'bundle';
  const bundles = bundleMode && deps.releases
    ? createBundleSource(config, { logger: deps.logger, channel: deps.releases, alert: deps.alert, env: deps.env, configFile: deps.configFile, stateFile })
    : undefined;
  /** Why self-update is off, or undefined when it is on. */
  const offReason = (): string | undefined => {
    if (bundleMode) return bundles ? undefined : 'updateSource is bundle but the agent has no release channel';
    return config.updateRemote ? undefined : 'updateRemote is not set';
  };

  async function check(): Promise<UpdateOutcome> {
    const off = offReason();
    if (off) return { kind: 'disabled', reason: off };
    if (!prefix) return { kind: 'disabled', reason: `${root} is not an installed release (<prefix>/releases/<id>)` };
    const layout = releaseLayout(prefix);
    const state = readUpdateState(stateFile);
    if (state.pending) {
      // The guard clears this; if it died (host reboot), a stale entry must not block updates forever.
      if (Date.now() < state.pending.deadline + 60_000) return { kind: 'pending', commit: state.pending.commit };
      log.warn({ pending: state.pending }, 'dropping a stale pending switch (its guard is gone)');
      writeUpdateState(stateFile, { ...state, pending: undefined });
    }

    if (bundles) {
      const cur = currentRelease(layout);
      const offer = await bundles.prepare(layout, (cur && releaseCommit(cur)) ?? readCommit());
      if (offer.kind !== 'ready') return offer.kind === 'failed' ? { kind: 'failed', commit: offer.commit, code: offer.code } : offer;
      return quiesceAndSwitch(log.child({ commit: offer.commit, version: offer.version }), offer.commit, offer.dir, cur ?? root, layout, prefix);
    }

    const head = await fetchHead(cacheDir, config.updateRemote!, config.updateBranch);
    const cur = currentRelease(layout);
    const running = (cur && releaseCommit(cur)) ?? readCommit();
    if (head === running) return { kind: 'up-to-date', commit: head };
    if (state.failed?.commit === head) {
      log.debug({ head, failed: state.failed }, 'head is a commit that failed before; waiting for a newer one');
      return { kind: 'known-bad', commit: head };
    }
    // A downgrade refused before is judged again once the operator allows downgrades; nothing else is.
    if (state.refused?.some((r) => r.commit === head && !(r.code === 'UPDATE_DOWNGRADE' && config.updateAllowDowngrade))) {
      log.debug({ head }, 'head is a commit refused before; waiting for another one');
      return { kind: 'known-bad', commit: head };
    }

    const clog = log.child({ commit: head });
    clog.info({ running }, 'new commit');
    // Judged before anything of it runs: the build executes the commit's own scripts.
    const refusal = await judgeHead({
      cacheDir,
      head,
      running,
      runningDir: cur ?? root,
      allowedSigners: config.updateAllowedSigners,
      allowDowngrade: config.updateAllowDowngrade,
    });
    if (refusal) {
      const now = readUpdateState(stateFile);
      const refused = [...(now.refused ?? []), { commit: head, code: refusal.code, detail: refusal.detail, at: new Date().toISOString() }].slice(-REFUSED_KEPT);
      writeUpdateState(stateFile, { ...now, refused });
      clog.error({ code: refusal.code, detail: refusal.detail }, 'refused the new commit; staying on the current release');
      const why = refusal.code === 'UPDATE_UNSIGNED' ? 'not signed by an allowed key' : 'older than the running release';
      await deps
        .alert?.(
          `httpagent ${config.agentId}: update to ${releaseName(head)} refused (${why})`,
          `${refusal.code}: ${refusal.detail}\n\nThe agent stays on ${running ?? 'its release'} and will not try commit ${head} again.\n`,
        )
        .catch((mailErr: unknown) => clog.error({ err: mailErr }, 'alert mail failed'));
      return { kind: 'refused', commit: head, code: refusal.code };
    }
    let dir: string;
    try {
      dir = preparedRelease(layout, head) ?? await prepareRelease({
        layout,
        cacheDir,
        commit: head,
        buildSteps: deps.buildSteps ?? DEFAULT_BUILD_STEPS,
        env: deps.env,
        configFile: deps.configFile,
        onStep: (step) => clog.info({ step }, 'preparing'),
      });
    } catch (err) {
      const e = err instanceof ReleaseBuildError ? err : new ReleaseBuildError('UPDATE_BUILD_FAILED', String(err), '');
      if (e.timedOut && timeouts.tryAgain(head)) {
        // The host's load, not the commit's fault: built again at the next tick, not remembered as failed.
        clog.warn({ code: e.code, detail: e.message }, 'self-test ran out of time; trying again at the next tick');
        throw e;
      }
      const reason = e.code === 'UPDATE_SELF_TEST_FAILED' ? 'self-test' : 'build';
      writeUpdateState(stateFile, { ...readUpdateState(stateFile), failed: { commit: head, reason, detail: `${e.message}\n${e.detail}`, at: new Date().toISOString() } });
      clog.error({ code: e.code, detail: e.detail.slice(-1000) }, 'new release failed; staying on the current one');
      await deps
        .alert?.(`httpagent ${config.agentId}: update to ${releaseName(head)} failed (${reason})`, `${e.message}\n\n${e.detail}\n`)
        .catch((mailErr: unknown) => clog.error({ err: mailErr }, 'alert mail failed'));
      return { kind: 'failed', commit: head, code: e.code };
    }

    return quiesceAndSwitch(clog, head, dir, cur ?? root, layout, prefix);
  }

  async function quiesceAndSwitch(clog: Logger, head: string, dir: string, from: string, layout: ReturnType<typeof releaseLayout>, prefix: string): Promise<UpdateOutcome> {
    if (stopped) return { kind: 'deferred', commit: head }; // the agent is shutting down anyway
    // Quiesce: no new claims, then either switch now (no job runs) or, in drain mode, wait for the jobs.
    // Idle mode judges "no job runs" before pausing: pause() waits for the claim in flight (a long-poll),
    // and judged after it, any job that long-poll brings would put the switch off, so an agent fed more
    // often than its long-poll never switched. Seen idle, it pauses and runs what that claim brings first.
    const busy = deps.jobs.running() > 0;
    await deps.jobs.pause();
    try {
      return await switchWhenQuiet(clog, head, dir, from, layout, prefix, busy);
    } catch (err) {
      // An abandoned switch must not leave the agent paused for good: it claims again.
      deps.jobs.resume();
      throw err;
    }
  }

  /** Claims are paused; every path that does not exit resumes them. */
  async function switchWhenQuiet(clog: Logger, head: string, dir: string, from: string, layout: ReturnType<typeof releaseLayout>, prefix: string, busy: boolean): Promise<UpdateOutcome> {
    if (config.updateMode === 'idle' && busy) {
      deps.jobs.resume();
      clog.info({ running: deps.jobs.running() }, 'jobs running; switching at the next idle check');
      return { kind: 'deferred', commit: head };
    }
    if (deps.jobs.running() > 0) clog.info({ running: deps.jobs.running() }, 'claims paused; waiting for the running jobs before switching');
    while (deps.jobs.running() > 0) {
      if (stopped) {
        deps.jobs.resume();
        return { kind: 'deferred', commit: head };
      }
      await new Promise((r) => setTimeout(r, 500));
    }

    writeUpdateState(stateFile, {
      ...readUpdateState(stateFile),
      pending: { from: basename(from), to: basename(dir), commit: head, switchedAt: new Date().toISOString(), deadline: Date.now() + config.updateDeadlineSec * 1000 },
    });
    switchCurrent(layout, dir);
    try {
      if (config.updateGuard === 'spawn') startGuard(config, deps, prefix);
    } catch (err) {
      // Without a guard nobody would roll back: do not leave the switch in place.
      switchCurrent(layout, from);
      writeUpdateState(stateFile, { ...readUpdateState(stateFile), pending: undefined });
      deps.jobs.resume();
      clog.error({ err }, 'could not start the update guard; switched back');
      return { kind: 'failed', commit: head, code: 'UPDATE_GUARD_FAILED' };
    }
    let removed: string[] = [];
    try {
      removed = pruneReleases(layout, config.updateKeepReleases, [dir, from]);
    } catch (err) {
      // Old releases left on disk are harmless; an agent that switched but never exits is not.
      clog.warn({ err }, 'pruning old releases failed');
    }
    clog.info({ release: basename(dir), removed }, 'switched current; exiting so the supervisor starts the new release');
    deps.exit(`self-update to ${head}`);
    return { kind: 'switched', commit: head };
  }

  const timeouts = selfTestTimeouts();
  const splayMs = updateSplayMs(config.agentId, config.updateSplaySec);
  /** Checks waiting out their splay: at most splay / period of them (one per tick). */
  const splayTimers = new Set<NodeJS.Timeout>();

  /**
   * Each tick's check runs its splay later, without holding up the next tick: the splay shifts an
   * agent's checks, it does not stretch their period. Waited for inside the tick, a 30 s splay on a 5 s
   * cron made every check 30 s apart, and an agent told to wait (a busy host, a bounded rollout) asked
   * again only half a minute later.
   */
  function tick(): void {
    if (stopped) return;
    if (splayMs === 0) return void runCheck();
    const t = setTimeout(() => {
      splayTimers.delete(t);
      void runCheck();
    }, splayMs);
    splayTimers.add(t);
  }

  async function runCheck(): Promise<void> {
    // A check still running (a build takes minutes) is not joined: its tick reports it.
    if (stopped || inFlight) return;
    try {
      const outcome = await checkNow();
      // The quiet outcomes say nothing new at every tick; a deferral is said where it is decided.
      if (!['up-to-date', 'known-bad', 'refused', 'deferred'].includes(outcome.kind)) log.info({ outcome }, 'update check');
    } catch (err) {
      log.warn({ err }, 'update check failed; trying again at the next tick');
    }
  }

  const checkNow = (): Promise<UpdateOutcome> => {
    // One check at a time: a slow build must not be started twice by the next tick.
    inFlight ??= check().finally(() => {
      inFlight = undefined;
    });
    return inFlight;
  };

  return {
    start() {
      const off = offReason();
      if (off) {
        log.info(`self-update off (${off})`);
        return;
      }
      if (!prefix) {
        log.warn({ root }, 'self-update off: not running from an installed release (<prefix>/releases/<id>); set updatePrefix');
        return;
      }
      try {
        cron = new Cron(config.updateCron, { protect: true, catch: true }, tick);
      } catch (err) {
        log.error({ cron: config.updateCron, reason: (err as Error).message }, 'self-update off: updateCron is not a valid pattern');
        return;
      }
      if (bundleMode) log.info({ channel: config.updateChannel, cron: config.updateCron, splayMs, prefix, signers: config.updateAllowedSigners ?? null }, 'self-update on (release bundles)');
      else {
        log.info(
          { remote: config.updateRemote, branch: config.updateBranch, cron: config.updateCron, splayMs, prefix, signers: config.updateAllowedSigners ?? null, allowDowngrade: config.updateAllowDowngrade },
          config.updateAllowedSigners ? 'self-update on (signed commits only)' : 'self-update on (unsigned: any commit the remote serves is built)',
        );
      }
    },
    async stop() {
      stopped = true;
      cron?.stop();
      for (const t of splayTimers) clearTimeout(t);
      splayTimers.clear();
      // A build in progress is not waited for (it can take minutes); it ends without switching.
      await Promise.race([inFlight?.catch(() => undefined), new Promise((r) => setTimeout(r, 1000).unref())]);
    },
    checkNow,
  };
}

/** An agent's delay before each update tick: fixed by its id, spread evenly over [0, splaySec) across a fleet. */
export function updateSplayMs(agentId: string, splaySec: number): number {
  if (splaySec <= 0) return 0;
  return createHash('sha256').update(`update-splay:${agentId}`).digest().readUInt32BE(0) % (splaySec * 1000);
}

/** The guard outlives this process: its own session (detached), output to a file, not waited for. */
function startGuard(config: AgentConfig, deps: SelfUpdaterDeps, prefix: string): void {
  const base = deps.guardCommand ?? defaultGuardCommand(deps.packageRoot ?? runningRoot);
  const args = [...base.slice(1), ...(deps.configFile ? ['--config', deps.configFile] : []), '--prefix', prefix];
  const logDir = join(config.stateDir, 'update');
  mkdirSync(logDir, { recursive: true });
  const out = openSync(join(logDir, 'guard.log'), 'a');
  try {
    const child = spawn(base[0]!, args, { detached: true, stdio: ['ignore', out, out], env: deps.env as NodeJS.ProcessEnv });
    child.on('error', (err) => deps.logger.error({ err }, 'update guard failed to start'));
    child.unref();
  } finally {
    closeSync(out);
  }
}

/**
 * The guard runs the old release's code (known good), by its real path: `current` already points at
 * the new release when the guard starts. From source (tsx, development) the same entry is reused.
 */
function defaultGuardCommand(root: string): string[] {
  const built = join(root, 'dist', 'src', 'bin', 'httpagent.js');
  if (existsSync(built)) return [process.execPath, built, 'update-guard'];
  return [process.execPath, ...process.execArgv, process.argv[1]!, 'update-guard'];
}
