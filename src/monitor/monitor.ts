// The monitor process's heart: a metrics loop (sample → buffer → controller) and a check loop
// (checks → alert engine → mail, heartbeat, alert state saved locally and at the controller).
import { HttpAgentError } from '../shared/errors.js';
import type { Logger } from '../shared/log.js';
import { decide } from '../shared/retry-policy.js';
import { emptyAlertState, evaluate, openIncidents, type AlertState, type Observation } from './alerts/alert-engine.js';
import { alertStatePath, newerAlertState, readLocalAlertState, writeLocalAlertState } from './alerts/alert-state-store.js';
import { createMailer, type Mailer } from '../shared/mailer.js';
import { createNotifier, type Notifier } from './alerts/alert-notifier.js';
import { createHostSampler, type HostFigures, type HostSampler } from './collectors/host-sampler.js';
import { createMonitorClient, type MonitorClient } from './monitor-client.js';
import { createMonitorCredential } from './monitor-credential.js';
import type { MonitorOptions } from './monitor-options.js';
import { createCheckRunner, type CheckRunner } from './run-checks.js';
import { createScheduleCheck } from './checks/schedule-check.js';
import { createSetupNotices } from './setup-notices.js';
import { createSampleBuffer } from './sample-buffer.js';

/**
 * created: built, nothing running · running: both loops scheduled · stopping: timers cleared, the
 * last samples and mails going out · stopped: everything closed.
 */
export type MonitorLifecycle = 'created' | 'running' | 'stopping' | 'stopped';

export interface MonitorDeps {
  logger: Logger;
  sampler?: HostSampler;
  client?: MonitorClient;
  mailer?: Mailer;
  checks?: CheckRunner;
  now?: () => number;
}

export interface Monitor {
  start(): Promise<void>;
  stop(): Promise<void>;
  state(): MonitorLifecycle;
  /** For tests and logs: samples waiting for the controller, and the alert state. */
  buffered(): number;
  alertState(): AlertState;
}

/** The name of the synthetic check that fails while the controller cannot be reached. */
export const CONTROLLER_CHECK = 'controller';

export function createMonitor(o: MonitorOptions, deps: MonitorDeps): Monitor {
  const log = deps.logger;
  const now = deps.now ?? Date.now;
  const sampler = deps.sampler ?? createHostSampler({ mounts: o.thresholds.mounts });
  // Aborted when stopping: a call waiting to be retried gives up, so the last round goes out at once.
  const stopping = new AbortController();
  const client = deps.client ?? createMonitorClient({ baseUrl: o.controllerUrl, credential: createMonitorCredential(o.stateDir), timeoutMs: o.timeoutMs, signal: stopping.signal });
  const mailer = deps.mailer ?? createMailer({ smtpUrl: o.smtpUrl, from: o.alertFrom, to: o.alertTo, logger: log, timeoutMs: o.timeoutMs });
  const notifier: Notifier = createNotifier({ host: o.agentId, groupMs: o.groupMs, mailer, logger: log });
  const checks = deps.checks ?? createCheckRunner(o, undefined, createSetupNotices({ stateDir: o.stateDir, host: o.agentId, mailer, logger: log }));
  const schedules = createScheduleCheck(o.schedules, () => client.getScheduleRuns());
  const buffer = createSampleBuffer<HostFigures>(o.bufferMax);
  const statePath = alertStatePath(o.stateDir);

  let lifecycle: MonitorLifecycle = 'created';
  let alerts: AlertState = emptyAlertState();
  let remoteDirty = false;
  let latest: HostFigures | undefined;
  let controllerUp: boolean | undefined;
  const timers = new Set<NodeJS.Timeout>();
  const inflight = new Set<Promise<unknown>>();

  const track = <T>(p: Promise<T>): Promise<T> => {
    inflight.add(p);
    void p.finally(() => inflight.delete(p)).catch(() => {});
    return p;
  };

  const controllerResult = (ok: boolean, err?: unknown) => {
    if (ok !== controllerUp) {
      if (ok) log.info({ buffered: buffer.size() }, 'controller reachable');
      else log.warn({ err: (err as Error | undefined)?.message, buffered: buffer.size() }, 'controller unreachable; buffering samples');
    }
    controllerUp = ok;
  };

  let flushing = false;
  /** Sends buffered samples oldest first; stops at the first failure and leaves the rest for later. */
  const flushSamples = async (): Promise<void> => {
    if (flushing) return;
    flushing = true;
    try {
      while (buffer.size() > 0) {
        const batch = buffer.peek(o.flushBatch);
        try {
          await client.pushMetrics(Math.max(1, Math.round(o.metricsIntervalMs / 1000)), batch);
        } catch (err) {
          if (err instanceof HttpAgentError && decide(err) !== 'retry') {
            // The controller refused these samples (4xx): sending them again would be refused again and
            // block everything behind them, so they are dropped and the refusal is logged.
            log.error({ code: err.code, err: err.message, dropped: batch.length }, 'controller refused samples; dropped');
            buffer.drop(batch.length);
            continue;
          }
          controllerResult(false, err);
          return;
        }
        buffer.drop(batch.length);
        controllerResult(true);
      }
    } finally {
      flushing = false;
    }
  };

  const metricsRound = async (): Promise<void> => {
    try {
      latest = await sampler.sample();
      buffer.push(latest);
    } catch (err) {
      log.error({ err: (err as Error).message }, 'sampling failed');
    }
    await flushSamples();
  };

  const saveState = async (): Promise<void> => {
    try {
      await writeLocalAlertState(statePath, alerts);
    } catch (err) {
      log.error({ err: (err as Error).message, path: statePath }, 'cannot save alert state locally');
    }
    remoteDirty = true;
  };

  const pushRemoteState = async (): Promise<void> => {
    if (!remoteDirty) return;
    try {
      await client.putAlertState(alerts);
      remoteDirty = false;
    } catch (err) {
      controllerResult(false, err);
    }
  };

  const checkRound = async (): Promise<void> => {
    const t = now();
    let observations: Observation[];
    try {
      observations = await checks.run(latest, t);
    } catch (err) {
      log.error({ err: (err as Error).message }, 'checks failed to run');
      observations = [];
    }
    const summary: Record<string, boolean> = {};
    // Schedules as of the last round: this round's runs are read only once the heartbeat went through.
    for (const ob of [...observations, ...schedules.known()]) summary[ob.name.slice(0, 128)] = ob.ok;
    let hbError: unknown;
    try {
      await client.heartbeat(o.heartbeatTtlSec, summary);
      controllerResult(true);
    } catch (err) {
      hbError = err;
      controllerResult(false, err);
    }
    // Asked only of a controller that answered: while it is away the schedules keep their last verdict.
    observations.push(...(hbError ? schedules.known() : await schedules.run()));
    const ctl: Observation = hbError
      ? { name: CONTROLLER_CHECK, ok: false, detail: `${o.controllerUrl}: ${(hbError as { code?: string }).code ?? ''} ${(hbError as Error).message}`.trim() }
      : { name: CONTROLLER_CHECK, ok: true, detail: 'reachable' };
    const r = evaluate(alerts, [...observations, ctl], now(), o.policy);
    alerts = r.state;
    for (const e of r.events) log.warn({ kind: e.kind, check: e.check, detail: e.detail }, 'alert');
    notifier.push(r.events);
    if (r.changed || r.events.length > 0) await saveState();
    if (!hbError) {
      await pushRemoteState();
      // The controller is back: send what piled up while it was away.
      if (buffer.size() > 0) await flushSamples();
    }
  };

  const loop = (name: string, every: number, fn: () => Promise<void>) => {
    const tick = async () => {
      if (lifecycle !== 'running') return;
      try {
        await track(fn());
      } catch (err) {
        log.error({ err: (err as Error).message, loop: name }, 'monitor round failed');
      }
      if (lifecycle !== 'running') return;
      const t = setTimeout(() => {
        timers.delete(t);
        void tick();
      }, every);
      timers.add(t);
    };
    void tick();
  };

  return {
    async start() {
      if (lifecycle !== 'created') return;
      const local = await readLocalAlertState(statePath);
      let remote: AlertState | null = null;
      try {
        remote = await client.getAlertState();
        controllerUp = true;
      } catch (err) {
        controllerResult(false, err);
      }
      alerts = newerAlertState(local, remote) ?? emptyAlertState();
      if (alerts !== remote && alerts.updatedAt > 0) remoteDirty = true;
      log.info({ open: openIncidents(alerts), from: alerts === remote ? 'controller' : alerts === local ? 'local' : 'none' }, 'alert state loaded');
      lifecycle = 'running';
      loop('metrics', o.metricsIntervalMs, metricsRound);
      loop('checks', o.checkIntervalMs, checkRound);
    },
    async stop() {
      if (lifecycle !== 'running') {
        lifecycle = 'stopped';
        return;
      }
      lifecycle = 'stopping';
      stopping.abort();
      for (const t of timers) clearTimeout(t);
      timers.clear();
      await Promise.allSettled([...inflight]);
      // One last attempt each: what the controller does not take now stays in the local state file.
      await flushSamples();
      await pushRemoteState();
      await notifier.close();
      mailer.close();
      await client.close();
      checks.close();
      lifecycle = 'stopped';
    },
    state: () => lifecycle,
    buffered: () => buffer.size(),
    alertState: () => alerts,
  };
}
