// `httpagent update-guard --config FILE --prefix DIR`: started detached by self-update right after a
// switch; waits for the new release to be healthy or rolls back (see src/ops/update-guard.ts).
import { parseArgs } from 'node:util';
import { agentConfigSchema, agentEnvOnly, allConfigKeys, isNonSettingEnv, loadConfig, retiredAgentSettings } from '../shared/config/index.js';
import { createLogger } from '../shared/log.js';
import { createAlertMailer } from '../ops/ops-mail.js';
import { loadMailSettings } from '../ops/mail-settings.js';
import { prefixOfRelease } from '../ops/release-layout.js';
import { supervisedProgramFromEnv } from '../ops/supervised-program.js';
import { runUpdateGuard } from '../ops/update-guard.js';
import { packageRoot } from '../shared/package-info.js';

export async function main(argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: { config: { type: 'string', short: 'c' }, prefix: { type: 'string' }, 'poll-ms': { type: 'string' } },
    strict: true,
  });
  const file = values.config ?? env.HTTPAGENT_CONFIG;
  const config = loadConfig(agentConfigSchema, { file, env, otherKeys: allConfigKeys, ignoreEnv: isNonSettingEnv, retired: retiredAgentSettings, envOnly: agentEnvOnly });
  const logger = createLogger({ level: config.logLevel, name: 'httpagent-update-guard' });
  const prefix = values.prefix ?? config.updatePrefix ?? prefixOfRelease(packageRoot);
  if (!prefix) {
    logger.error('no install prefix: pass --prefix or set updatePrefix');
    return 2;
  }
  const alert = createAlertMailer(loadMailSettings(file, env, logger), logger);
  // Spawned by the agent, the guard has its environment: under supervisord, SUPERVISOR_* name the program.
  const program = supervisedProgramFromEnv(env);
  const outcome = await runUpdateGuard(config, { logger, alert, prefix, program, pollMs: values['poll-ms'] ? Number(values['poll-ms']) : undefined });
  logger.info({ outcome }, 'update guard done');
  return outcome === 'rolled-back' ? 1 : 0;
}
