// The one place where a Lua refusal ({err: CODE} in a script's reply, or a per-result status of a
// batched complete) becomes a typed error; each code is registered, so its HTTP status comes from the registry.
import { z } from 'zod';
import { HttpAgentError, NotFoundError, StaleEpochError } from '../../src/shared/errors.js';

export const scriptErrorCodeSchema = z.enum(['JOB_NOT_FOUND', 'AGENT_UNKNOWN', 'STALE_EPOCH', 'LOG_OFFSET_GAP', 'LOG_INCOMPLETE', 'STEP_OUT_OF_RANGE']);
export type ScriptErrorCode = z.infer<typeof scriptErrorCodeSchema>;

/** Names the job or agent in the message. */
export interface ScriptErrorContext {
  jobId?: string | undefined;
  agentId?: string | undefined;
}

/** `expected`: the bytes the controller holds, for the two log codes. */
export function scriptError(code: ScriptErrorCode, ctx: ScriptErrorContext = {}, expected?: number): HttpAgentError {
  switch (code) {
    case 'JOB_NOT_FOUND':
      return new NotFoundError('JOB_NOT_FOUND', `no job ${ctx.jobId ?? '(unnamed)'}`);
    case 'AGENT_UNKNOWN':
      return new NotFoundError('AGENT_UNKNOWN', `agent ${ctx.agentId ?? '(unnamed)'} is not registered; register again`);
    case 'STALE_EPOCH':
      return new StaleEpochError();
    case 'LOG_OFFSET_GAP':
      return new HttpAgentError('LOG_OFFSET_GAP', `the log chunk starts past the end of the log; resend from ${expected}`, {
        details: { expected },
      });
    case 'LOG_INCOMPLETE':
      return new HttpAgentError('LOG_INCOMPLETE', `the controller holds ${expected} bytes of this attempt's log; send the rest, then complete again`, {
        details: { expected },
      });
    case 'STEP_OUT_OF_RANGE':
      return new HttpAgentError('STEP_OUT_OF_RANGE', "the step index is past the job's last step");
  }
}
