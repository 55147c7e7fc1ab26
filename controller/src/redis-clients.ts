// The controller's two Redis connections: one for commands (auto-pipelined, so concurrent requests
// share one socket) and one subscriber for wake-ups. A Redis Cluster when seed nodes are configured.
import { Cluster, Redis, type RedisOptions } from 'ioredis';
import type { ControllerConfig } from '../../src/shared/config/controller-config.js';
import { parseListen } from '../../src/shared/config/fields.js';
import type { RedisLike } from './commands.js';

export interface RedisClients {
  command: RedisLike;
  subscriber: RedisLike;
  quit(): Promise<void>;
  /** Resolves once both connections are ready; rejects after `timeoutMs` (they keep trying until quit). */
  ready(timeoutMs: number): Promise<void>;
}

/** What failed, in one line: a dual-stack connect fails with an AggregateError whose own message is empty. */
export function describeRedisError(err: Error): string {
  if (err.message) return err.message;
  const inner = (err as Partial<AggregateError>).errors;
  if (Array.isArray(inner) && inner.length > 0) return inner.map((e: Error) => e.message).join('; ');
  return (err as { code?: string }).code ?? err.name;
}

function whenReady(c: RedisLike): Promise<void> {
  if (c.status === 'ready') return Promise.resolve();
  return new Promise((resolve) => c.once('ready', () => resolve()));
}

const common: RedisOptions = {
  enableAutoPipelining: true,
  // Commands issued while Redis is away wait in the offline queue for a couple of reconnects, then fail
  // (the HTTP caller gets 503 and retries) instead of piling up for minutes.
  maxRetriesPerRequest: 2,
  // Reconnect for ever, backing off to 1 s: the controller recovers from a Redis restart by itself.
  retryStrategy: (times) => Math.min(50 * times, 1000),
  connectTimeout: 5000,
  // A socket that never connected has nothing to flush: ioredis' default 2 s wait for its close only
  // kept a controller that could not reach Redis alive that much longer after it gave up.
  disconnectTimeout: 200,
  // A command whose reply was lost with the connection fails (the caller retries, idempotently: claims
  // by claimId, log chunks by offset, results by epoch) rather than being re-sent behind its back, which
  // for an enqueue without idempotencyKey could add the job twice.
  autoResendUnfulfilledCommands: false,
  // ...but ioredis does not fail such a command: on reconnect it drops it unsettled, and with auto-pipelining
  // every later command queued behind its pipeline for good (the controller hung after a Redis kill -9; found
  // by the chaos suite). A command timeout is what makes it fail. No script runs anywhere near this long.
  commandTimeout: 10_000,
  // Straight to the socket, not into the next auto-pipeline: a log chunk (up to a MiB), which a pipeline
  // would copy once more into one buffer with its neighbours; and the scripts on a job's own path (enqueue,
  // enqueue-and-claim, claim, complete-and-claim), which a pipeline would hold for a turn of the event loop
  // (bench --compare, 5 rounds: idle pickup median -12 %, CPU per one-at-a-time job -20 %, 50 at a time and
  // bursts unchanged). Nothing orders these against other commands: a request is one script.
  autoPipeliningIgnoredCommands: ['appendLog', 'claim', 'completeClaim', 'enqueue', 'enqueueClaim'],
};

/** A cluster's nodes are given as host:port; user, password and TLS come from redisUrl when it has them. */
function credentialsOf(redisUrl: string): RedisOptions {
  const u = new URL(redisUrl);
  return {
    ...(u.username ? { username: decodeURIComponent(u.username) } : {}),
    ...(u.password ? { password: decodeURIComponent(u.password) } : {}),
    ...(u.protocol === 'rediss:' ? { tls: {} } : {}),
  };
}

export function createRedisClients(config: Pick<ControllerConfig, 'redisUrl' | 'redisCluster'>): RedisClients {
  const make = (role: 'command' | 'subscriber'): RedisLike => {
    const name = `httpagent-controller-${role}`;
    if (config.redisCluster.length > 0) {
      const nodes = config.redisCluster.map((s) => parseListen(s));
      return new Cluster(nodes, {
        enableAutoPipelining: role === 'command',
        autoPipeliningIgnoredCommands: common.autoPipeliningIgnoredCommands,
        clusterRetryStrategy: (times) => Math.min(100 * times, 2000),
        redisOptions: { ...common, ...credentialsOf(config.redisUrl), connectionName: name, enableAutoPipelining: false },
      });
    }
    // The subscriber must keep retrying its commands: SUBSCRIBE is re-sent on every reconnect.
    const opts: RedisOptions = role === 'command' ? { ...common, connectionName: name } : { ...common, connectionName: name, maxRetriesPerRequest: null };
    return new Redis(config.redisUrl, opts);
  };
  const command = make('command');
  const subscriber = make('subscriber');
  return {
    command,
    subscriber,
    async ready(timeoutMs) {
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<never>((_resolve, reject) => {
        timer = setTimeout(() => reject(new Error(`not ready after ${timeoutMs} ms`)), timeoutMs);
      });
      try {
        await Promise.race([Promise.all([whenReady(command), whenReady(subscriber)]), timeout]);
      } finally {
        clearTimeout(timer);
      }
    },
    quit: async () => {
      await Promise.allSettled([command.quit(), subscriber.quit()]);
      command.disconnect();
      subscriber.disconnect();
    },
  };
}
