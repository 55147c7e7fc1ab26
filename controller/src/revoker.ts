// DELETE /v1/agents/:id: the agent's live credential is dropped (its hash kept aside so its holder hears
// CREDENTIAL_REVOKED), and every controller is told to forget it.
import { NotFoundError } from '../../src/shared/errors.js';
import type { RedisLike } from './commands.js';
import type { Keys } from './keys.js';

export interface Revoker {
  revoke(agentId: string): Promise<{ requeued: number }>;
}

export function createRevoker(redis: RedisLike, keys: Keys): Revoker {
  return {
    async revoke(agentId) {
      const [live, revoked, registered] = await Promise.all([
        redis.get(keys.credential(agentId)),
        redis.exists(keys.revokedCredential(agentId)),
        redis.exists(keys.agent(agentId)),
      ]);
      if (live === null && revoked === 0 && registered === 0) throw new NotFoundError('AGENT_NOT_FOUND', `no agent ${agentId}`);
      const tx = redis.multi();
      if (live !== null) {
        const { hash } = JSON.parse(live) as { hash: string };
        tx.set(keys.revokedCredential(agentId), hash).del(keys.credential(agentId)).hdel(keys.credentialUse, agentId);
      }
      tx.publish(keys.revokeChannel, agentId);
      await tx.exec();
      return { requeued: 0 };
    },
  };
}
