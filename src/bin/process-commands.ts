// The long-running commands (controller, agent, monitor) and the ones supervisord and self-update start,
// on the same commander tree as the console so `--help`, suggestions and usage errors behave alike.
// Each module is loaded only when its command runs: `httpagent job status` does not pay for the controller.
import type { Command } from 'commander';
import type { Cli } from '../cli/program.js';

type Main = (argv: string[], env: NodeJS.ProcessEnv) => Promise<number>;

/** The parsed options back as arguments for the command's own main(argv, env). */
function argvOf(cmd: Command): string[] {
  const values = cmd.opts<Record<string, unknown>>();
  return cmd.options.flatMap((o) => {
    const v = values[o.attributeName()];
    if (v === undefined || v === false || !o.long) return [];
    return v === true ? [o.long] : [o.long, String(v)];
  });
}

const CONFIG = ['-c, --config <file>', 'YAML or JSON settings; HTTPAGENT_* variables win (default: HTTPAGENT_CONFIG)'] as const;

export function registerProcessCommands(cli: Cli): void {
  const add = (name: string, description: string, load: () => Promise<Main>, help: string) =>
    cli.program
      .command(name)
      .description(description)
      .option(...CONFIG)
      .addHelpText('after', help)
      .action(async (_opts: unknown, cmd: Command) => cli.exitWith(await (await load())(argvOf(cmd), cli.runtime.env)));

  add('controller', 'run the reference controller: the job inbox over Redis', async () => (await import('./run-controller.js')).main, `
Serves the platform API (/v1/jobs, /v1/agents, /openapi.json) and the agent API (/v1/agent/*) on
HTTPAGENT_LISTEN (default 0.0.0.0:9890). A Redis it never reaches at start-up ends it within seconds
with one line naming the URL (exit 1).

Examples:
  HTTPAGENT_REDIS_URL=redis://127.0.0.1:6379 HTTPAGENT_AGENT_TOKEN=... HTTPAGENT_PLATFORM_TOKEN=... httpagent controller
  httpagent controller --config controller.yaml --verbose`).option('-v, --verbose', 'debug logging, with the stack of every Redis connection error');

  add('agent', 'run the agent: light tasks on its HTTP port, heavy jobs from the controller', async () => (await import('./run-agent.js')).main, `
--self-test loads and checks the configuration (schedules: cron patterns and time zones; state and
tasks directories) without starting anything, and exits 0 or 1; install.sh and self-update run it.

Examples:
  httpagent agent --config /opt/httpagent/etc/httpagent.yaml
  httpagent agent --self-test --config /opt/httpagent/etc/httpagent.yaml`).option('--self-test', 'check the configuration and exit');

  add('monitor', "run the monitor: health checks, host metrics and alert mail, beside the agent", async () => (await import('./run-monitor.js')).main, `
Reads the agent's config file and variables.

Example:
  httpagent monitor --config /opt/httpagent/etc/httpagent.yaml`);

  add('supervisor-listener', 'supervisord event listener: mails an alert when a program goes FATAL (started by supervisord)', async () => (await import('../ops/supervisor-listener.js')).main, `
Example (a supervisord program line):
  command=httpagent supervisor-listener --config /opt/httpagent/etc/httpagent.yaml`);

  add('update-guard', 'after a self-update switch: health-check the new release or roll back (started by self-update)', async () => (await import('./run-update-guard.js')).main, `
Example:
  httpagent update-guard --config /opt/httpagent/etc/httpagent.yaml --prefix /opt/httpagent`)
    .option('--prefix <dir>', 'the install prefix (default: updatePrefix, else found from this release)')
    .option('--poll-ms <ms>', 'how often to poll the new release');
}
