// `httpagent monitor`: loads the host's shared config, runs the monitor until SIGTERM/SIGINT, exits 0.
import { allConfigKeys, isNonSettingEnv, loadConfig, monitorConfigSchema, retiredAgentSettings } from '../shared/config/index.js';
import { readCredential } from '../shared/credential-file.js';
import { createLogger } from '../shared/log.js';
import { createMonitor } from '../monitor/monitor.js';
import { compileMonitorOptions } from '../monitor/monitor-options.js';
import { version } from '../shared/package-info.js';
import { parseProcessArgs } from './args.js';

export async function main(argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const args = parseProcessArgs(argv, env);
  if (args.help) {
    process.stdout.write('Usage: httpagent monitor [--config FILE]\nReads the agent\'s config file and HTTPAGENT_* variables; see README.md.\n');
    return 0;
  }
  const config = loadConfig(monitorConfigSchema, { file: args.config, env, otherKeys: allConfigKeys, ignoreEnv: isNonSettingEnv, retired: retiredAgentSettings });
  const logger = createLogger({ level: config.logLevel, name: 'monitor' });
  // A credential that cannot be trusted (mode, owner) stops the monitor here with that line (exit 2);
  // a missing one is waited for: the agent may not have enrolled yet.
  const enrolledAs = readCredential(config.stateDir)?.agentId;
  if (enrolledAs === undefined) logger.warn({ stateDir: config.stateDir }, 'no agent credential yet; samples are buffered until the agent enrolls');
  else if (config.agentId !== undefined && config.agentId !== enrolledAs)
    logger.warn({ agentId: config.agentId, enrolledAs }, "agentId differs from the agent's credential; the controller hears from the credential's agent");
  const options = compileMonitorOptions(config, { underSupervisor: env.SUPERVISOR_ENABLED !== undefined, enrolledAs });
  const monitor = createMonitor(options, { logger });

  let resolveDone!: () => void;
  const done = new Promise<void>((r) => (resolveDone = r));
  let stopping = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'monitor stopping');
    // Timers are cleared first, then the buffered samples and pending mail get one last try.
    monitor.stop().then(resolveDone, (err: unknown) => {
      logger.error({ err: (err as Error).message }, 'monitor stop failed');
      resolveDone();
    });
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);

  await monitor.start();
  logger.info(
    {
      version,
      agentId: options.agentId,
      controllerUrl: options.controllerUrl,
      checkIntervalSec: options.checkIntervalMs / 1000,
      metricsIntervalSec: options.metricsIntervalMs / 1000,
      underSupervisor: options.supervisor !== null,
      mail: Boolean(options.smtpUrl && options.alertTo.length),
    },
    'monitor started',
  );
  await done;
  process.off('SIGTERM', onSignal);
  process.off('SIGINT', onSignal);
  logger.info('monitor stopped');
  return 0;
}
