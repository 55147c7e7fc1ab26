// `httpagent controller`: loads config, connects to Redis, serves the controller until SIGTERM/SIGINT.
import { loadControllerSecrets } from '../../controller/src/controller-secrets.js';
import { buildController } from '../../controller/src/index.js';
import { createRedisClients, describeRedisError } from '../../controller/src/redis-clients.js';
import { allConfigKeys, controllerConfigSchema, isNonSettingEnv, loadConfig, parseListen } from '../shared/config/index.js';
import { redactUrl } from '../shared/config/fields.js';
import { EXIT, HttpAgentError } from '../shared/errors.js';
import { createLogger } from '../shared/log.js';
import { parseProcessArgs } from './args.js';

const USAGE = `Usage: httpagent controller [--config FILE] [--verbose]

Runs the reference controller: the platform API (/v1/jobs, /v1/agents) and the agent API (/v1/agent/*)
over Redis. Settings come from FILE and HTTPAGENT_* variables (see README.md).
`;

/**
 * How long start-up waits for a Redis it has never reached before it gives up, names the URL and exits 1:
 * under a supervisor the restart tries again; by hand the operator sees the mistake at once.
 */
export const REDIS_START_WAIT_MS = 6000;

export async function main(argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  let args;
  try {
    args = parseProcessArgs(argv, env);
  } catch (err) {
    process.stderr.write(`httpagent controller: ${(err as Error).message}\n${USAGE}`);
    return EXIT.usage;
  }
  if (args.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  // A bad setting throws ConfigError: httpagent.ts prints it and exits 2, as for every process.
  const config = loadConfig(controllerConfigSchema, { file: args.config, env, otherKeys: allConfigKeys, ignoreEnv: isNonSettingEnv });
  // Token files and signing keys too, before Redis: a weak or reused token is a bad setting like any other.
  const secrets = loadControllerSecrets(config);
  // --verbose is debug logging: each Redis connection error with its stack, which start-up otherwise sums up in one line.
  const level = args.verbose && config.logLevel !== 'trace' ? 'debug' : config.logLevel;
  const verbose = level === 'debug' || level === 'trace';
  const logger = createLogger({ level, name: 'controller' });
  const where = config.redisCluster.length ? `the Redis Cluster at ${config.redisCluster.join(',')} (HTTPAGENT_REDIS_CLUSTER)` : `Redis at ${redactUrl(config.redisUrl)} (HTTPAGENT_REDIS_URL)`;

  const clients = createRedisClients(config);
  // Every connection error is handled here (ioredis prints a stack trace for each one nobody listens to):
  // counted and kept for the one line start-up prints, then one warning per outage once connected.
  let tries = 0;
  let lastError = 'no answer';
  let connected = false;
  let down = false;
  const onError = (role: string) => (err: Error) => {
    tries++;
    lastError = describeRedisError(err);
    if (verbose) logger.debug({ err, role }, 'redis connection error');
    if (connected && !down) logger.warn({ redis: where, err: lastError }, 'lost Redis; reconnecting');
    if (connected) down = true;
  };
  clients.command.on('error', onError('command'));
  clients.subscriber.on('error', onError('subscriber'));
  clients.command.on('ready', () => {
    if (down) logger.info({ redis: where }, 'Redis is back');
    down = false;
  });

  const slowStart = setTimeout(() => logger.warn({ redis: where, err: lastError }, 'waiting for Redis to answer before listening'), 2000);
  try {
    await clients.ready(REDIS_START_WAIT_MS);
  } catch {
    clearTimeout(slowStart);
    clients.command.disconnect();
    clients.subscriber.disconnect();
    throw new HttpAgentError(
      'REDIS_UNREACHABLE',
      `cannot reach ${where}: ${lastError} (${tries} failed ${tries === 1 ? 'try' : 'tries'} in ${REDIS_START_WAIT_MS / 1000} s)`,
    );
  }
  clearTimeout(slowStart);
  connected = true;

  let controller;
  try {
    controller = await buildController(config, { redis: clients.command, subscriber: clients.subscriber, logger, secrets });
  } catch (err) {
    logger.error(verbose ? { err } : { err: (err as Error).message }, 'controller failed to start');
    await clients.quit();
    return 1;
  }

  const { host, port } = parseListen(config.listen);
  let url: string;
  try {
    url = await controller.app.listen({ host, port });
  } catch (err) {
    logger.error({ err: (err as Error).message, listen: config.listen }, 'cannot listen');
    await controller.close();
    await clients.quit();
    return 1;
  }
  logger.info({ url, redis: config.redisCluster.length ? { cluster: config.redisCluster } : redactUrl(config.redisUrl), keyPrefix: config.keyPrefix }, 'controller listening');

  // First signal: stop accepting, answer waiting claims, finish in-flight requests, quit Redis.
  // Second signal: exit at once.
  return new Promise<number>((resolve) => {
    let stopping = false;
    const onSignal = (signal: NodeJS.Signals) => {
      if (stopping) {
        logger.warn({ signal }, 'second signal: exiting now');
        process.exit(130);
      }
      stopping = true;
      logger.info({ signal }, 'controller stopping');
      void (async () => {
        try {
          await controller.close();
          await clients.quit();
          logger.info('controller stopped');
          resolve(0);
        } catch (err) {
          logger.error({ err }, 'controller did not stop cleanly');
          resolve(1);
        }
      })();
    };
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
  });
}
