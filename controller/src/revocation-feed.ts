// Revocations reach every controller: the one that revoked publishes the agent id, each controller's
// subscriber connection (shared with the wake hub) drops that agent's cached credential on arrival.
import type { Logger } from '../../src/shared/log.js';
import type { RedisLike } from './commands.js';
import type { CredentialCheck } from './credential-check.js';

export interface RevocationFeed {
  close(): void;
}

export async function followRevocations(subscriber: RedisLike, channel: string, check: CredentialCheck, logger: Logger): Promise<RevocationFeed> {
  const onMessage = (ch: string, agentId: string): void => {
    if (ch !== channel) return;
    check.forget(agentId);
    logger.info({ agentId }, 'agent credential revoked; dropped from the cache');
  };
  // Messages published while the connection was down are lost: trust nothing cached from before.
  let down = false;
  const onClose = (): void => {
    down = true;
  };
  const onReady = (): void => {
    if (down) check.forgetAll();
    down = false;
  };
  subscriber.on('message', onMessage);
  subscriber.on('close', onClose);
  subscriber.on('ready', onReady);
  await subscriber.subscribe(channel);
  return {
    close() {
      subscriber.off('message', onMessage);
      subscriber.off('close', onClose);
      subscriber.off('ready', onReady);
    },
  };
}
