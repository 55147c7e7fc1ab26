// The one place where a Lua refusal ({err: CODE} in a script's reply, or a per-result status of a
// batched complete) becomes a typed error; each code is registered, so its HTTP status comes from the registry.
import { z } from 'zod';
import { HttpAgentError, NotFoundError, StaleEpochError } from '../../src/shared/errors.js';

export const scriptErrorCodeSchema = z.enum([
  'JOB_NOT_FOUND',
  'AGENT_UNKNOWN',
  'STALE_EPOCH',
  'LOG_OFFSET_GAP',
  'LOG_INCOMPLETE',
  'STEP_OUT_OF_RANGE',
  'AGENT_MISMATCH',
  'CREDENTIAL_REVOKED',
  'AGENT_NOT_FOUND',
  'MONITOR_QUOTA',
  'RELEASE_EXISTS',
  'RELEASE_NOT_FOUND',
  'RELEASE_BEING_DELETED',
]);
export type ScriptErrorCode = z.infer<typeof scriptErrorCodeSchema>;

/** Names the job, agent or release in the message. */
export interface ScriptErrorContext {
  jobId?: string | undefined;
  agentId?: string | undefined;
  version?: string | undefined;
}

/** `n`: the bytes the controller holds for the two log codes; the seconds to wait for MONITOR_QUOTA. */
export function scriptError(code: ScriptErrorCode, ctx: ScriptErrorContext = {}, n?: number): HttpAgentError {
  switch (code) {
    case 'JOB_NOT_FOUND':
      return new NotFoundError('JOB_NOT_FOUND', `no job ${ctx.jobId ?? '(unnamed)'}`);
    case 'AGENT_UNKNOWN':
      return new NotFoundError('AGENT_UNKNOWN', `agent ${ctx.agentId ?? '(unnamed)'} is not registered; register again`);
    case 'STALE_EPOCH':
      return new StaleEpochError();
    case 'LOG_OFFSET_GAP':
      return new HttpAgentError('LOG_OFFSET_GAP', `the log chunk starts past the end of the log; resend from ${n}`, {
        details: { expected: n },
      });
    case 'LOG_INCOMPLETE':
      return new HttpAgentError('LOG_INCOMPLETE', `the controller holds ${n} bytes of this attempt's log; send the rest, then complete again`, {
        details: { expected: n },
      });
    case 'STEP_OUT_OF_RANGE':
      return new HttpAgentError('STEP_OUT_OF_RANGE', "the step index is past the job's last step");
    case 'AGENT_MISMATCH':
      return new HttpAgentError(
        'AGENT_MISMATCH',
        ctx.jobId ? `the lease of job ${ctx.jobId} belongs to another agent; nothing was changed` : 'a lease named belongs to another agent; nothing was changed',
      );
    case 'CREDENTIAL_REVOKED':
      return new HttpAgentError('CREDENTIAL_REVOKED', `the credential of agent ${ctx.agentId ?? '(unnamed)'} was revoked; stop, and enroll again only when the platform says so`);
    case 'AGENT_NOT_FOUND':
      return new NotFoundError('AGENT_NOT_FOUND', `no agent ${ctx.agentId ?? '(unnamed)'}: never enrolled nor registered`);
    case 'RELEASE_EXISTS':
      return new HttpAgentError('RELEASE_EXISTS', `release ${ctx.version ?? '(unnamed)'} is stored with other content; publish a new version`);
    case 'RELEASE_NOT_FOUND':
      return new NotFoundError('RELEASE_NOT_FOUND', `no release ${ctx.version ?? '(unnamed)'} is stored`);
    case 'RELEASE_BEING_DELETED':
      return new HttpAgentError('RELEASE_BEING_DELETED', `release ${ctx.version ?? '(unnamed)'} is being deleted by the cleanup (releaseKeep); upload it again in a moment`, {
        retryAfterSec: 5,
      });
    case 'MONITOR_QUOTA':
      return new HttpAgentError('MONITOR_QUOTA', `agent ${ctx.agentId ?? '(unnamed)'} stored its minute's share of metric bytes; retry later`, {
        retryAfterSec: n ?? 60,
      });
  }
}
