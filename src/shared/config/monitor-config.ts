// The monitor's settings: it shares the agent's file and variables and adds only these.
import { z } from 'zod';
import { agentIdSchema } from '../protocol/ids.js';
import { scheduleSchema } from './agent-config.js';
import { intField, jsonField, listField, listenSchema, logLevelField, urlField } from './fields.js';

const checkName = z.string().regex(/^[A-Za-z0-9_.:-]{1,64}$/, 'check names are 1-64 of [A-Za-z0-9_.:-]');

/** An extra health check: an HTTP URL that must answer 2xx, or a process that must be alive. */
export const extraCheckSchema = z.discriminatedUnion('type', [
  z.strictObject({
    name: checkName,
    type: z.literal('http'),
    url: urlField(),
    timeoutMs: z.number().int().min(100).max(60_000).default(5000),
  }),
  z
    .strictObject({
      name: checkName,
      type: z.literal('process'),
      /** A file holding the pid of a process that must be alive. */
      pidfile: z.string().min(1).optional(),
      /** A regular expression that some process's command line (/proc/PID/cmdline, args joined by spaces) must match. */
      pattern: z.string().min(1).optional(),
      timeoutMs: z.number().int().min(100).max(60_000).default(5000),
    })
    .refine((c) => (c.pidfile === undefined) !== (c.pattern === undefined), 'a process check needs exactly one of pidfile or pattern'),
]);
export type ExtraCheck = z.infer<typeof extraCheckSchema>;

export const monitorConfigSchema = z.strictObject({
  /** The agent's id; by default the one in the agent's credential (<stateDir>/credential). */
  agentId: agentIdSchema.optional(),
  controllerUrl: urlField().default('http://127.0.0.1:9890'),
  /** Where the agent listens; the monitor checks its /healthz there. */
  listen: listenSchema.default('127.0.0.1:9889'),
  /** The agent's state directory: the monitor speaks to the controller with the agent's credential in it. */
  stateDir: z.string().min(1).default('./var/agent'),
  metricsIntervalSec: intField(1, 3600).default(10),
  logLevel: logLevelField().default('info'),
  /** Alert mail through nodemailer; without smtpUrl and alertTo, alerts are only logged. */
  smtpUrl: z.string().optional(),
  alertTo: listField().default([]),
  alertFrom: z.string().default('httpagent@localhost'),
  extraChecks: jsonField(z.array(extraCheckSchema)).default([]),
  /** Health checks, heartbeat (TTL 3 × this) and alert evaluation run every this many seconds. */
  checkIntervalSec: intField(1, 3600).default(10),
  /** Timeout of the agent's /healthz and of each call to the controller. */
  checkTimeoutMs: intField(100, 60_000).default(5000),
  /** A check alerts after this many failures in a row. */
  alertAfterFailures: intField(1, 1000).default(3),
  /** An alerting check recovers after this many successes in a row (so a flapping check does not storm). */
  alertRecoverAfter: intField(1, 1000).default(2),
  /** A reminder mail while an incident lasts, this often. */
  alertRepeatSec: intField(1).default(4 * 3600),
  /** Alert events this close together go in one mail. */
  alertGroupMs: intField(0, 600_000).default(2000),
  /** Thresholds: a figure over its limit for alertHoldSec makes its check fail. */
  alertCpuPercent: intField(1, 100).default(95),
  alertMemoryPercent: intField(1, 100).default(95),
  alertDiskPercent: intField(1, 100).default(90),
  alertHoldSec: intField(0, 86_400).default(300),
  /** Mounts whose use is sampled and checked besides `/`. */
  monitorMounts: listField().default([]),
  /** supervisord programs to check when running under supervisord; all of them when empty. */
  supervisorPrograms: listField().default([]),
  /** supervisorctl's -c file, when supervisord does not use its default config. */
  supervisorConfig: z.string().min(1).optional(),
  /** The agent's schedules (the same key): the monitor alerts when the last run of one of them failed. */
  schedules: jsonField(z.array(scheduleSchema)).default([]),
  /** Samples kept while the controller is unreachable (oldest dropped first); 0 = 24 h worth. */
  metricsBufferMax: intField(0, 1_000_000).default(0),
});

export type MonitorConfig = z.infer<typeof monitorConfigSchema>;
