// Compiles the monitor's config once into runtime options: durations in ms, derived values resolved.
import { hostname } from 'node:os';
import type { ExtraCheck } from '../shared/config/monitor-config.js';
import { agentIdFromHostname } from '../shared/protocol/ids.js';
import type { MonitorConfig } from '../shared/config/index.js';
import type { AlertPolicy } from './alerts/alert-engine.js';
import { agentHealthUrl } from './checks/http-check.js';
import type { ThresholdLimits } from './checks/threshold-checks.js';

export interface MonitorOptions {
  /** For mail and logs; calls to the controller name the agent id of the credential they carry. */
  agentId: string;
  controllerUrl: string;
  /** The agent's: the credential is read from it, the alert state kept in it. */
  stateDir: string;
  checkIntervalMs: number;
  metricsIntervalMs: number;
  /** The heartbeat key lives this long: three check intervals, so one slow round is not a death. */
  heartbeatTtlSec: number;
  timeoutMs: number;
  /** The agent's /healthz; null skips the check (a host running the monitor alone). */
  agentHealthUrl: string | null;
  extraChecks: ExtraCheck[];
  /** Names of the agent's schedules: each is a check `schedule:<name>` on its last finished run. */
  schedules: string[];
  supervisor: { programs: string[]; configFile?: string | undefined } | null;
  thresholds: ThresholdLimits;
  policy: AlertPolicy;
  groupMs: number;
  bufferMax: number;
  /** Samples per POST when flushing the buffer. */
  flushBatch: number;
  smtpUrl?: string | undefined;
  alertTo: string[];
  alertFrom: string;
}

export interface CompileContext {
  /** supervisord sets SUPERVISOR_ENABLED in its children's environment. */
  underSupervisor: boolean;
  /** The agent id in the agent's credential, when it has enrolled: the default agentId. */
  enrolledAs?: string | undefined;
}

export function compileMonitorOptions(c: MonitorConfig, ctx: CompileContext): MonitorOptions {
  const mounts = ['/', ...c.monitorMounts.filter((m) => m !== '/')];
  const metricsIntervalMs = c.metricsIntervalSec * 1000;
  return {
    agentId: c.agentId ?? ctx.enrolledAs ?? agentIdFromHostname(hostname()),
    controllerUrl: c.controllerUrl,
    stateDir: c.stateDir,
    checkIntervalMs: c.checkIntervalSec * 1000,
    metricsIntervalMs,
    heartbeatTtlSec: 3 * c.checkIntervalSec,
    timeoutMs: c.checkTimeoutMs,
    agentHealthUrl: agentHealthUrl(c.listen),
    extraChecks: c.extraChecks,
    schedules: c.schedules.map((s) => s.name),
    supervisor: ctx.underSupervisor ? { programs: c.supervisorPrograms, configFile: c.supervisorConfig } : null,
    thresholds: {
      cpuPercent: c.alertCpuPercent,
      memoryPercent: c.alertMemoryPercent,
      diskPercent: c.alertDiskPercent,
      holdMs: c.alertHoldSec * 1000,
      mounts,
    },
    policy: { afterFailures: c.alertAfterFailures, recoverAfter: c.alertRecoverAfter, repeatMs: c.alertRepeatSec * 1000,
      // Three incidents of one check within an hour (or the repeat interval, if longer) mean flapping.
      flapIncidents: 3,
      flapWindowMs: Math.max(3_600_000, c.alertRepeatSec * 1000),
    },
    groupMs: c.alertGroupMs,
    // 24 h of samples at the interval unless set; capped so a 1 s interval cannot hold 86 400 samples.
    bufferMax: c.metricsBufferMax > 0 ? c.metricsBufferMax : Math.min(20_000, Math.ceil(86_400_000 / metricsIntervalMs)),
    flushBatch: 200,
    smtpUrl: c.smtpUrl,
    alertTo: c.alertTo,
    alertFrom: c.alertFrom,
  };
}
