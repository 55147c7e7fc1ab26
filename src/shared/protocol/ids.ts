// The ids both APIs carry: one schema each, used by config, protocol schemas and route parameters alike.
import { z } from 'zod';

/** An agent id: also a Redis key part and a label in URLs, so a small safe alphabet. */
export const AGENT_ID_PATTERN = /^[A-Za-z0-9_.-]{1,128}$/;
export const agentIdSchema = z.string().regex(AGENT_ID_PATTERN, 'expected an agent id: 1-128 of [A-Za-z0-9_.-]');

/** The default agent id: the host name with every character outside the alphabet made a '-'. */
export function agentIdFromHostname(hostname: string): string {
  return hostname.replace(/[^A-Za-z0-9_.-]/g, '-');
}

/**
 * A job id. The controller issues 16 letters and digits (controller/src/job-store.ts newJobId); ids
 * issued before that were base64url, hence '_' and '-' are still accepted.
 */
export const JOB_ID_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;
export const jobIdSchema = z.string().regex(JOB_ID_PATTERN, 'expected a job id: 1-64 of [A-Za-z0-9_-]');
