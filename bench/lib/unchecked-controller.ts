// Benchmarks only: `httpagent controller` from dist/ as production runs it, except that it is built with
// benchmarkWithoutAgentChecks, so the agent API takes the agent id from the credential without checking
// the secret or the ids a request names. Run beside the real thing, it measures what the checks cost.
// There is no setting for this anywhere: only code that builds a controller itself can ask for it, and
// this file is not shipped (package.json "files").
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { repoRoot } from '../../test/helpers/processes.js';

type IndexModule = typeof import('../../controller/src/index.js');
type ClientsModule = typeof import('../../controller/src/redis-clients.js');
type ConfigModule = typeof import('../../src/shared/config/index.js');
type LogModule = typeof import('../../src/shared/log.js');

/** The compiled module, so the code measured is the code a bench's other controllers run. */
const dist = async <T>(path: string): Promise<T> => (await import(pathToFileURL(join(repoRoot, 'dist', path)).href)) as T;

const { buildController } = await dist<IndexModule>('controller/src/index.js');
const { createRedisClients } = await dist<ClientsModule>('controller/src/redis-clients.js');
const { allConfigKeys, controllerConfigSchema, isNonSettingEnv, loadConfig, parseListen } = await dist<ConfigModule>('src/shared/config/index.js');
const { createLogger } = await dist<LogModule>('src/shared/log.js');

const config = loadConfig(controllerConfigSchema, { env: process.env, otherKeys: allConfigKeys, ignoreEnv: isNonSettingEnv });
const logger = createLogger({ level: config.logLevel, name: 'controller' });
const clients = createRedisClients(config);
clients.command.on('error', () => undefined);
const controller = await buildController(config, { redis: clients.command, subscriber: clients.subscriber, logger, benchmarkWithoutAgentChecks: true });
const url = await controller.app.listen(parseListen(config.listen));
logger.info({ url }, 'controller listening (agent checks off: benchmark)');

const stop = (): void => {
  void controller
    .close()
    .then(() => clients.quit())
    .finally(() => process.exit(0));
};
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
