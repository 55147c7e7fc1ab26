// Drains and resumes reach every controller: the one the platform called publishes the change, and each
// controller's subscriber connection (shared with the wake hub) applies it to the claims waiting there,
// so a resume made anywhere wakes the agent's long-poll at once instead of when it ends.
import { z } from 'zod';
import type { Logger } from '../../src/shared/log.js';
import type { RedisLike } from './commands.js';

const drainChangeSchema = z.strictObject({ agentId: z.string().min(1), drained: z.boolean() });
export type DrainChange = z.infer<typeof drainChangeSchema>;

export const encodeDrainChange = (change: DrainChange): string => JSON.stringify(change);

export interface DrainFeed {
  close(): void;
}

/**
 * Calls `apply` for every change announced on `channel`, this controller's own included (applying one
 * twice changes nothing). A change published while the connection was down is lost; the wake hub's
 * reconnect wakes every waiting claim, and each claim reads the drain mark itself.
 */
export async function followDrains(subscriber: RedisLike, channel: string, apply: (change: DrainChange) => void, logger: Logger): Promise<DrainFeed> {
  const onMessage = (ch: string, message: string): void => {
    if (ch !== channel) return;
    let change: DrainChange;
    try {
      change = drainChangeSchema.parse(JSON.parse(message));
    } catch (err) {
      // A newer controller's format, or someone publishing by hand: not worth a crash or a retry.
      logger.warn({ err: (err as Error).message }, 'ignored a drain change this controller cannot read');
      return;
    }
    apply(change);
  };
  subscriber.on('message', onMessage);
  await subscriber.subscribe(channel);
  return {
    close() {
      subscriber.off('message', onMessage);
    },
  };
}
