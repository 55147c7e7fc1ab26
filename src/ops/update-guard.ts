// The health check after a switch: run as its own detached process (the old agent has exited), it
// waits for the new commit to be up (its record in running.json, its process alive, /healthz
// answering) and otherwise switches back and restarts the old one.
import { join } from 'node:path';
import { execa } from 'execa';
import { request } from 'undici';
import { z } from 'zod';
import type { AgentConfig } from '../shared/config/agent-config.js';
import type { Logger } from '../shared/log.js';
import type { AlertFn } from './ops-mail.js';
import { findAgentPids } from './agent-process.js';
import { releaseLayout, switchCurrent } from './release-layout.js';
import { pidAlive, readRunningAgent } from './running-agent.js';
import { readUpdateState, updateStatePath, writeUpdateState } from './update-state.js';

export type GuardOutcome = 'nothing-pending' | 'healthy' | 'rolled-back';

export interface GuardDeps {
  logger: Logger;
  alert?: AlertFn | undefined;
  /** Install prefix (releases/ and current). */
  prefix: string;
  /** Poll interval; tests shorten it. */
  pollMs?: number;
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
  log.info({ url, deadline: new Date(pending.deadline).toISOString() }, 'waiting for the new release to be up on its commit');

  let last: string | undefined;
  while (Date.now() < pending.deadline) {
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
    await new Promise((r) => setTimeout(r, pollMs));
  }

  // Roll back first, then record: if we die between the two, the old release runs and at worst the
  // bad commit is tried once more.
  const layout = releaseLayout(deps.prefix);
  switchCurrent(layout, join(layout.releasesDir, pending.from));
  const detail = last ? `the agent up runs commit ${last}` : 'no agent answered /healthz on a recorded commit';
  const state = readUpdateState(stateFile);
  writeUpdateState(stateFile, {
    ...state,
    pending: undefined,
    failed: { commit: pending.commit, reason: 'unhealthy', detail, at: new Date().toISOString() },
  });
  log.error({ detail }, 'new release not healthy in time: switched back');

  if (config.updateRestartCommand && config.updateRestartCommand.length > 0) {
    const [cmd, ...args] = config.updateRestartCommand;
    const r = await execa(cmd!, args, { reject: false, all: true, timeout: 60_000 });
    if (r.exitCode === 0) log.info({ cmd }, 'restarted the agent on the old release');
    else log.error({ cmd, exitCode: r.exitCode, output: r.all?.slice(-500) }, 'restart command failed');
  } else {
    // No command: stop the agent ourselves (same user, no socket or sudo needed); its supervisor
    // restarts it from `current`, which points at the old release again.
    const pids = findAgentPids(deps.prefix);
    signalAll(pids, log);
    if (pids.length > 0) log.info({ pids }, 'sent SIGTERM to the agent; its supervisor starts the old release');
    else log.warn('no running agent found; the old release starts at its next start');
  }

  await deps
    .alert?.(
      `httpagent ${config.agentId}: update to ${pending.commit.slice(0, 12)} rolled back`,
      `Agent ${config.agentId} switched to commit ${pending.commit} at ${pending.switchedAt}, but it did not ` +
        `come up on that commit (${url}) before the deadline (${detail}).\n` +
        `It was switched back to release ${pending.from} and will not retry this commit until a newer one is pushed.\n`,
    )
    .catch((err: unknown) => log.error({ err }, 'alert mail failed'));
  return 'rolled-back';
}

function signalAll(pids: number[], log: Logger): void {
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGTERM');
    } catch (err) {
      log.error({ pid, err }, 'cannot signal the process');
    }
  }
}
