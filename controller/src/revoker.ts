// DELETE /v1/agents/:id: one script drops the agent's live credential (its hash kept aside so its holder
// hears CREDENTIAL_REVOKED), puts the jobs it holds back in their queues and tells every controller.
import type { RunScript } from './commands.js';
import type { Keys } from './keys.js';

export interface Revoker {
  /** Throws 404 AGENT_NOT_FOUND for an id never enrolled nor registered. */
  revoke(agentId: string): Promise<{ requeued: number; cancelled: number }>;
}

export function createRevoker(run: RunScript, keys: Keys, opts: { retentionSec: number }): Revoker {
  return {
    revoke: (agentId) =>
      run(
        'revokeAgent',
        [keys.base, keys.credential(agentId), keys.revokedCredential(agentId), keys.credentialUse, keys.agent(agentId), keys.leases, keys.selectors],
        { agentId, retentionSec: opts.retentionSec, wakeChannel: keys.wakeChannel, revokeChannel: keys.revokeChannel },
        { agentId },
      ),
  };
}
