// Claims resource: the long-poll that hands this agent up to `max` jobs.
import { agentApiPaths, claimResponseSchema, type ClaimRequest, type ClaimResponse } from '../../shared/protocol/agent-api.js';
import type { ControllerHttp } from '../../shared/client/controller-http.js';

export interface ClaimsResource {
  /** Never pass an abort signal for shutdown: a claim cut off mid-flight is how jobs get orphaned. */
  claim(req: ClaimRequest): Promise<ClaimResponse>;
}

export function claimsResource(http: ControllerHttp): ClaimsResource {
  return {
    // The controller holds the request up to waitMs; allow that plus a margin before calling it lost.
    claim: (req) => http.call(agentApiPaths.claim, claimResponseSchema, { json: req, timeoutMs: (req.waitMs ?? 0) + 15_000 }),
  };
}
