// `httpagent controller`: loads config, connects to Redis, serves the controller until SIGTERM/SIGINT.
import { loadControllerSecrets } from '../../controller/src/controller-secrets.js';
import { buildController } from '../../controller/src/index.js';
import { createRedisClients } from '../../controller/src/redis-clients.js';
import { allConfigKeys, controllerConfigSchema, isNonSettingEnv, loadConfig, parseListen } from '../shared/config/index.js';
import { EXIT } from '../shared/errors.js';
import { createLogger } from '../shared/log.js';
import { parseProcessArgs } from './args.js';

const USAGE = `Usage: httpagent controller [--config FILE]

Runs the reference controller: the platform API (/v1/jobs, /v1/agents) and the agent API (/v1/agent/*)
over Redis. Settings come from FILE and HTTPAGENT_* variables (see README.md).
`;

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

  const logger = createLogger({ level: config.logLevel, name: 'controller' });
  const clients = createRedisClients(config);
  clients.command.on('error', (err: Error) => logger.debug({ err: err.message }, 'redis connection error'));
  // Start-up waits for Redis (the wake-up subscription needs it); say so rather than sit silent.
  const slowStart = setTimeout(() => logger.warn('waiting for Redis to answer before listening'), 2000);
  let controller;
  try {
    controller = await buildController(config, { redis: clients.command, subscriber: clients.subscriber, logger, secrets });
    clearTimeout(slowStart);
  } catch (err) {
    clearTimeout(slowStart);
    logger.error({ err }, 'controller failed to start');
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
  logger.info({ url, redis: config.redisCluster.length ? { cluster: config.redisCluster } : 'single', keyPrefix: config.keyPrefix }, 'controller listening');

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
