// The one place where a Lua status reply becomes a typed error (or a success to hand on); each status
// is a registered error code, so its HTTP status comes from the registry.
import { HttpAgentError, NotFoundError, StaleEpochError } from '../../src/shared/errors.js';

/** A script's reply: a status string first, then its values. */
export type ScriptReply = [string, ...unknown[]];

/** Throws the error a non-'ok' status stands for; returns the values after 'ok'. */
export function expectOk(reply: unknown, ctx: { jobId?: string; agentId?: string } = {}): unknown[] {
  if (!Array.isArray(reply) || typeof reply[0] !== 'string') {
    throw new HttpAgentError('INTERNAL', 'unexpected reply from a Redis script');
  }
  const [status, ...rest] = reply as ScriptReply;
  switch (status) {
    case 'ok':
      return rest;
    case 'JOB_NOT_FOUND':
      throw new NotFoundError('JOB_NOT_FOUND', `no job ${ctx.jobId ?? '(unnamed)'}`);
    case 'AGENT_UNKNOWN':
      throw new NotFoundError('AGENT_UNKNOWN', `agent ${ctx.agentId ?? '(unnamed)'} is not registered; register again`);
    case 'STALE_EPOCH':
      throw new StaleEpochError();
    case 'LOG_OFFSET_GAP':
      throw new HttpAgentError('LOG_OFFSET_GAP', `the log chunk starts past the end of the log; resend from ${Number(rest[0])}`, {
        details: { expected: Number(rest[0]) },
      });
    case 'LOG_INCOMPLETE':
      throw new HttpAgentError('LOG_INCOMPLETE', `the controller holds ${Number(rest[0])} bytes of this attempt's log; send the rest, then complete again`, {
        details: { expected: Number(rest[0]) },
      });
    case 'STEP_OUT_OF_RANGE':
      throw new HttpAgentError('STEP_OUT_OF_RANGE', 'the step index is past the job\'s last step');
    default:
      throw new HttpAgentError('INTERNAL', `unknown status ${status} from a Redis script`);
  }
}
