// `httpagent agent`: loads the agent's config, starts the HTTP port and the job loop, drains on
// SIGTERM/SIGINT (a second signal exits at once) and exits 0 once drained. No task script outlives it:
// when the drain grace is over, running steps and light tasks are stopped, and on any exit (a second
// signal, an uncaught error) every script's process group still running is killed.
import { join, resolve } from 'node:path';
import { agentConfigSchema, agentEnvOnly, allConfigKeys, isNonSettingEnv, loadConfig, parseListen, retiredAgentSettings } from '../shared/config/index.js';
import { buildAgentServer } from '../agent/port/agent-server.js';
import { enrollWith } from '../agent/controller-client/enroll.js';
import { createAgentIdentity } from '../agent/identity/agent-identity.js';
import { loadPortKeyRing } from '../agent/identity/port-key-ring.js';
import { createAgent } from '../agent/jobs/agent.js';
import { createLogger } from '../shared/log.js';
import { createAgentMetrics } from '../agent/agent-metrics.js';
import { packageRoot, readCommit, version } from '../shared/package-info.js';
import { createTaskGroups } from '../agent/tasks/task-groups.js';
import { setUpTasks } from '../agent/tasks/task-setup.js';
import { startAgentOperations } from './agent-operations.js';
import { formatSelfTest, runSelfTest } from '../ops/self-test.js';
import { writeRunningAgent } from '../ops/running-agent.js';
import { parseProcessArgs } from './args.js';

export async function main(argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const args = parseProcessArgs(argv, env);
  if (args.help) {
    process.stdout.write('Usage: httpagent agent [--config FILE]\nSettings from the file and HTTPAGENT_* variables; see README.md.\n');
    return 0;
  }
  const loaded = loadConfig(agentConfigSchema, { file: args.config, env, otherKeys: allConfigKeys, ignoreEnv: isNonSettingEnv, retired: retiredAgentSettings, envOnly: agentEnvOnly });
  const config = {
    ...loaded,
    tasksDir: resolve(loaded.tasksDir ?? join(packageRoot, 'scripts')),
    stateDir: resolve(loaded.stateDir),
  };
  if (args.selfTest) {
    // Self-update runs this in a freshly built release before it may become `current`.
    const result = runSelfTest(config);
    process.stdout.write(formatSelfTest(result));
    return result.ok ? 0 : 1;
  }
  const logger = createLogger({ level: config.logLevel, name: 'agent' });
  const metrics = createAgentMetrics();
  // Scripts run in process groups of their own (so the signal that starts a drain spares them), which
  // also keeps supervisord's stopasgroup/killasgroup from reaching them: the agent kills them itself.
  const taskGroups = createTaskGroups();
  // Throws ConfigError (exit 2) before anything listens: a bad tasks.yaml, no task user, a leak to it.
  // First, because it makes a root agent's stateDir 0700 before the credential is read or written there.
  const tasks = setUpTasks({
    tasksDir: config.tasksDir,
    stateDir: config.stateDir,
    taskUser: config.taskUser,
    taskEnv: config.taskEnv,
    configFile: args.config,
    hostEnv: env,
    groups: taskGroups,
    logger,
  });
  // Both throw ConfigError (exit 2) on a credential or key file that cannot be used, before anything listens.
  const portKeys = await loadPortKeyRing({ stateDir: config.stateDir, portTokenKeysFile: config.portTokenKeysFile, logger });
  const identity = createAgentIdentity(config, { enroll: enrollWith(config.controllerUrl), keys: portKeys, logger });
  const killTasks = () => {
    const n = taskGroups.killAll();
    if (n > 0) logger.warn({ groups: n }, 'killed the task scripts still running');
  };
  process.on('exit', killTasks);
  const lightTasksStop = new AbortController();
  const agent = createAgent(config, { logger, metrics, tasks, identity, portKeys });
  const app = buildAgentServer(config, {
    logger,
    metrics,
    tasks,
    portKeys,
    shutdown: lightTasksStop.signal,
    jobs: {
      running: () => agent.runningJobs,
      draining: () => agent.draining,
      revoked: () => agent.revoked,
      controllerReachable: () => agent.controllerReachable,
      submitJob: (spec) => agent.submitJob(spec),
    },
    version,
    commit: readCommit(),
    startedAt: Date.now(),
  });

  const { host, port } = parseListen(config.listen);
  const address = await app.listen({ host, port });
  // For the update guard: which commit is up now (its /healthz shows no commit without a port token).
  writeRunningAgent(config.stateDir, { pid: process.pid, commit: readCommit() ?? null, startedAt: new Date().toISOString() });
  await agent.start();
  // Scheduled tasks and self-update; self-update leaves the way SIGTERM does (drain, exit 0).
  const ops = await startAgentOperations(config, {
    logger,
    agent,
    env,
    configFile: args.config,
    exit: (reason) => {
      logger.info({ reason }, 'exiting so the supervisor starts the new release');
      onSignal('SIGTERM');
    },
  });

  let resolveDone!: (code: number) => void;
  const done = new Promise<number>((r) => (resolveDone = r));
  let signals = 0;
  const onSignal = (signal: NodeJS.Signals) => {
    signals++;
    if (signals > 1) {
      // The operator insists: kill every script's tree and leave; undelivered results stay spooled.
      logger.warn({ signal }, 'second signal: exiting now');
      killTasks();
      void agent.stop().finally(() => process.exit(1));
      setTimeout(() => process.exit(1), 500).unref();
      return;
    }
    logger.info({ signal, running: agent.runningJobs, graceSec: config.drainGraceSec }, 'draining');
    // Light tasks get the same grace as jobs; app.close() below waits for the requests they answer.
    const lightGrace = setTimeout(() => lightTasksStop.abort(), config.drainGraceSec * 1000);
    lightGrace.unref();
    ops
      .stop()
      .catch(() => undefined)
      .then(() => agent.drain())
      .then(() => app.close())
      .finally(() => clearTimeout(lightGrace))
      .then(
        () => resolveDone(0),
        (err: unknown) => {
          logger.error({ err }, 'drain failed');
          resolveDone(1);
        },
      );
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);

  logger.info(
    {
      version,
      agentId: config.agentId,
      listen: address,
      controllerUrl: config.controllerUrl,
      tasksDir: config.tasksDir,
      stateDir: config.stateDir,
      concurrency: config.concurrency,
      labels: config.labels,
      enrolled: identity.enrolled,
      portKeys: `${portKeys.size} from ${portKeys.source === 'file' ? config.portTokenKeysFile : 'the controller'}`,
    },
    'agent started',
  );
  const code = await done;
  process.off('SIGTERM', onSignal);
  process.off('SIGINT', onSignal);
  logger.info('agent stopped');
  return code;
}
