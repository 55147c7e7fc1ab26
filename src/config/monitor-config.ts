// The monitor's settings: it shares the agent's file and variables and adds only these.
import { z } from 'zod';
import { intField, jsonField, listField, logLevelField, tokenField, urlField } from './fields.js';

export const monitorConfigSchema = z.strictObject({
  agentId: z.string().regex(/^[A-Za-z0-9_.-]{1,128}$/).optional(),
  controllerUrl: urlField().default('http://127.0.0.1:9890'),
  /** Where the agent listens; the monitor checks its /healthz there. */
  listen: z.string().default('127.0.0.1:9889'),
  agentToken: tokenField(),
  stateDir: z.string().min(1).default('./var/agent'),
  metricsIntervalSec: intField(1, 3600).default(10),
  logLevel: logLevelField().default('info'),
  // Helpers of the monitor issue extend this schema (SMTP, alert thresholds, checks).
  smtpUrl: z.string().optional(),
  alertTo: listField().default([]),
  alertFrom: z.string().default('httpagent@localhost'),
  extraChecks: jsonField(z.array(z.unknown())).default([]),
});

export type MonitorConfig = z.infer<typeof monitorConfigSchema>;
