// The health check after a switch: run as its own detached process (the old agent has exited), it
// waits for the new commit to be up (its record in running.json, its process alive, /healthz
// answering) and otherwise switches back, gets the old release running
// (a release that crashed at start leaves the program FATAL: supervisord will not start it by itself)
// and mails what it did and whether the agent really serves again.
import { join } from 'node:path';
import { execa } from 'execa';
import { request } from 'undici';
import { z } from 'zod';
import type { AgentConfig } from '../shared/config/agent-config.js';
import type { Logger } from '../shared/log.js';
import type { AlertFn } from './ops-mail.js';
import { findAgentPids } from './agent-process.js';
import { releaseCommit, releaseLayout, switchCurrent } from './release-layout.js';
import { rollbackMail } from './rollback-report.js';
import { programState, startProgram, type SupervisedProgram } from './supervised-program.js';
import { pidAlive, readRunningAgent } from './running-agent.js';
import { readUpdateState, updateStatePath, writeUpdateState } from './update-state.js';

/**
 * nothing-pending: no switch awaits a check · healthy: the new release reported its commit · rolled-back:
 * switched back and the old release serves again · rolled-back-down: switched back, but the agent does not
 * serve (the mail says so and what to do).
 */
export type GuardOutcome = 'nothing-pending' | 'healthy' | 'rolled-back' | 'rolled-back-down';

export interface GuardDeps {
  logger: Logger;
  alert?: AlertFn | undefined;
  /** Where releases/ and current live (the install prefix, or its app/ on a root install with self-update). */
  prefix: string;
  /** The agent's supervisord program, when it runs under supervisord. */
  program?: SupervisedProgram | undefined;
  /** Poll interval; tests shorten it. */
  pollMs?: number;
  /** How long the old release has to serve again after the rollback. */
  recoverMs?: number;
}

/** `0.0.0.0:9889` → `http://127.0.0.1:9889/healthz`: the guard runs on the same host. */
export function healthUrl(listen: string): string {
  const idx = listen.lastIndexOf(':');
  let host = listen.slice(0, idx).replace(/^\[(.*)\]$/, '$1');
  if (host === '0.0.0.0' || host === '') host = '127.0.0.1';
  if (host === '::') host = '::1';
  return `http://${host.includes(':') ? `[${host}]` : host}:${listen.slice(idx + 1)}/healthz`;
}

const healthSchema = z.looseObject({ ok: z.literal(true) });

/**
 * The commit of the agent serving now, or undefined while none is (yet): /healthz must answer ok, and
 * the agent that wrote running.json (after it began to listen) must still be alive, so a record left by
 * the old release, or by a new one that died, never passes.
 */
export async function probeCommit(url: string, stateDir: string): Promise<string | undefined> {
  try {
    const res = await request(url, { headersTimeout: 2000, bodyTimeout: 2000 });
    const body: unknown = await res.body.json().catch(() => undefined);
    if (res.statusCode !== 200 || !healthSchema.safeParse(body).success) return undefined;
  } catch {
    return undefined;
  }
  const running = readRunningAgent(stateDir);
  return running && pidAlive(running.pid) ? (running.commit ?? undefined) : undefined;
}

export async function runUpdateGuard(config: AgentConfig, deps: GuardDeps): Promise<GuardOutcome> {
  const stateFile = updateStatePath(config.stateDir);
  const pending = readUpdateState(stateFile).pending;
  if (!pending) return 'nothing-pending';
  const log = deps.logger.child({ commit: pending.commit, from: pending.from, to: pending.to });
  const url = healthUrl(config.listen);
  const pollMs = deps.pollMs ?? 1000;
  log.info({ url, deadline: new Date(pending.deadline).toISOString(), program: deps.program?.name }, 'waiting for the new release to be up on its commit');

  let last: string | undefined;
  let gaveUp: string | undefined;
  // At least one look, however late the guard came up (a loaded host): a release that is healthy by
  // then must not be rolled back unseen.
  for (let first = true; first || Date.now() < pending.deadline; first = false) {
    last = await probeCommit(url, config.stateDir);
    if (last === pending.commit) {
      const state = readUpdateState(stateFile);
      writeUpdateState(stateFile, { ...state, pending: undefined, confirmed: pending.commit });
      log.info('new release is healthy');
      // The monitor and the FATAL listener still run the old release's files, which pruning will
      // delete later: restart them on the new one too (their supervisor starts them again).
      for (const command of ['monitor', 'supervisor-listener']) signalAll(findAgentPids(deps.prefix, command), log);
      return 'healthy';
    }
    // A release that crashes at start ends FATAL long before the deadline, and supervisord will not try
    // it again: waiting on would only keep the host down longer.
    if (deps.program) {
      const look = await programState(deps.program);
      if (look.state === 'FATAL') {
        gaveUp = `supervisord gave up starting it (FATAL: ${look.detail || 'exited too quickly'})`;
        break;
      }
    }
    await sleep(pollMs);
  }

  // Roll back first, then record: if we die between the two, the old release runs and at worst the
  // bad commit is tried once more.
  const layout = releaseLayout(deps.prefix);
  const fromDir = join(layout.releasesDir, pending.from);
  switchCurrent(layout, fromDir);
  const reason = gaveUp ?? (last ? `the agent up runs commit ${last}, not the new one, until the deadline` : 'no agent answered /healthz on a recorded commit before the deadline');
  const state = readUpdateState(stateFile);
  writeUpdateState(stateFile, {
    ...state,
    pending: undefined,
    failed: { commit: pending.commit, reason: 'unhealthy', detail: reason, at: new Date().toISOString() },
  });
  log.error({ reason }, 'new release not healthy: switched current back');

  const actions = [`switched current back to ${pending.from}`, ...(await restartOnOldRelease(config, deps, log))];
  const recovery = await waitForRelease(url, config.stateDir, releaseCommit(fromDir), pending.commit, deps, actions, log);
  if (recovery.serving) log.info({ seen: recovery.seen }, 'the old release serves again');
  else log.error({ seen: recovery.seen }, 'rolled back, but the agent does not serve');

  const mail = rollbackMail({
    agentId: config.agentId,
    pending,
    healthUrl: url,
    reason,
    actions,
    serving: recovery.serving,
    seen: recovery.seen,
    remedy: deps.program
      ? `Start it: supervisorctl start ${deps.program.name} (the cron watchdog also starts a FATAL agent, at most once per 10 minutes), and read its log under the install's log/ directory.`
      : 'Look at its service (systemctl status httpagent-agent) and its log under the install\'s log/ directory.',
  });
  await deps.alert?.(mail.subject, mail.text).catch((err: unknown) => log.error({ err }, 'alert mail failed'));
  return recovery.serving ? 'rolled-back' : 'rolled-back-down';
}

/** Gets the agent going on the old release; returns what it did, one line each, for the mail. */
async function restartOnOldRelease(config: AgentConfig, deps: GuardDeps, log: Logger): Promise<string[]> {
  if (config.updateRestartCommand && config.updateRestartCommand.length > 0) {
    const [cmd, ...args] = config.updateRestartCommand;
    const r = await execa(cmd!, args, { reject: false, all: true, timeout: 60_000 });
    if (r.exitCode === 0) {
      log.info({ cmd }, 'restarted the agent on the old release');
      return [`ran updateRestartCommand (${cmd}): exit 0`];
    }
    log.error({ cmd, exitCode: r.exitCode, output: r.all?.slice(-500) }, 'restart command failed');
    return [`ran updateRestartCommand (${cmd}): it FAILED with exit ${r.exitCode}: ${r.all?.slice(-300) ?? ''}`];
  }
  if (deps.program) {
    const look = await programState(deps.program);
    if (look.state === 'FATAL' || look.state === 'STOPPED' || look.state === 'EXITED') return [await start(deps.program, look.state, log)];
    if (look.state === 'BACKOFF' || look.state === 'STARTING') return [`${deps.program.name} was ${look.state}: supervisord's next start runs current, the old release`];
    if (look.state === 'unknown') log.warn({ failure: look.failure, detail: look.detail }, 'cannot read the program state from supervisord; signalling the agent instead');
  }
  // Running (or no supervisord to ask): stop it ourselves (same user, no socket or sudo needed); its
  // supervisor starts it again from `current`, which points at the old release again.
  const pids = findAgentPids(deps.prefix);
  signalAll(pids, log);
  if (pids.length > 0) {
    log.info({ pids }, 'sent SIGTERM to the agent; its supervisor starts the old release');
    return [`sent SIGTERM to the agent (pid ${pids.join(', ')}); its supervisor starts it again on the old release`];
  }
  log.warn('no running agent found');
  return ['found no running agent to restart'];
}

async function start(program: SupervisedProgram, was: string, log: Logger): Promise<string> {
  const failed = await startProgram(program);
  if (!failed) {
    log.info({ program: program.name, was }, 'started the agent on the old release');
    return `${program.name} was ${was}: started it (supervisorctl start)`;
  }
  log.error({ program: program.name, was, ...failed }, 'cannot start the agent');
  const why = failed.failure === 'permission'
    ? `supervisord's socket refuses this user (Permission denied; install.sh --supervisor-socket-access fixes that)`
    : failed.detail;
  return `${program.name} was ${was}: starting it FAILED: ${why}`;
}

/**
 * Waits (recoverMs) for /healthz to report the old release's commit (or, without one recorded, any commit
 * but the bad one). A program that turns FATAL meanwhile (its retries ran out just as current was switched
 * back) is started once more.
 */
async function waitForRelease(url: string, stateDir: string, commit: string | undefined, bad: string, deps: GuardDeps, actions: string[], log: Logger): Promise<{ serving: boolean; seen: string }> {
  const deadline = Date.now() + (deps.recoverMs ?? 60_000);
  let startedAgain = false;
  let seen = 'showed no agent up on a recorded commit';
  for (;;) {
    const now = await probeCommit(url, stateDir);
    if (now !== undefined) seen = `answers, and the agent up runs commit ${now}`;
    if (now !== undefined && (commit ? now === commit : now !== bad)) return { serving: true, seen };
    if (Date.now() > deadline) return { serving: false, seen: `${seen} ${Math.round((deps.recoverMs ?? 60_000) / 1000)} s after the rollback` };
    if (deps.program && !startedAgain) {
      const look = await programState(deps.program);
      if (look.state === 'FATAL') {
        startedAgain = true;
        actions.push(await start(deps.program, 'FATAL again', log));
      }
    }
    await sleep(deps.pollMs ?? 1000);
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function signalAll(pids: number[], log: Logger): void {
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGTERM');
    } catch (err) {
      log.error({ pid, err }, 'cannot signal the process');
    }
  }
}
