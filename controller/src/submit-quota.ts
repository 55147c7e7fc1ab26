// How many jobs an agent may queue for itself per minute (POST /v1/agent/jobs): a fixed window counted in
// Redis, shared by every controller, so one host cannot fill Redis with jobs of its own.
import { HttpAgentError } from '../../src/shared/errors.js';
import type { RedisLike } from './commands.js';
import type { Keys } from './keys.js';

export interface SubmitQuota {
  /** Counts one submit for `agentId`, or throws 429 SUBMIT_QUOTA with Retry-After. */
  take(agentId: string): Promise<void>;
}

export function createSubmitQuota(redis: RedisLike, keys: Keys, perMinute: number): SubmitQuota {
  return {
    async take(agentId) {
      const key = keys.submitQuota(agentId);
      // One transaction: the window's key is created with its expiry, so a counter never outlives its minute.
      const res = await redis.multi().set(key, '0', 'EX', 60, 'NX').incr(key).pttl(key).exec();
      const count = Number(res?.[1]?.[1] ?? 0);
      const ttlMs = Number(res?.[2]?.[1] ?? 60_000);
      if (res?.some(([err]) => err)) throw res.find(([err]) => err)![0]!;
      if (count > perMinute) {
        throw new HttpAgentError('SUBMIT_QUOTA', `agent ${agentId} queued ${perMinute} jobs for itself this minute; retry later`, {
          retryAfterSec: Math.max(1, Math.ceil(ttlMs / 1000)),
        });
      }
    },
  };
}
