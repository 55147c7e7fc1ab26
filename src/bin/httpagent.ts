#!/usr/bin/env node
// The single entry point: `httpagent <command>`. Each command's module is loaded only when used,
// so `httpagent job status` does not pay for the controller's start-up.
import { EXIT, exitStatusFor } from '../shared/error-codes.js';
import { version } from '../shared/package-info.js';

const HELP = `httpagent ${version} — a host agent for test platforms

Usage: httpagent <command> [options]

Processes:
  controller [--config FILE]     run the reference controller (Redis-backed job inbox)
  agent [--config FILE]          run the agent: light tasks on HTTP, heavy jobs from the controller
  monitor [--config FILE]        run the monitor: health checks, host metrics, alert mail

Console (talks to the controller; HTTPAGENT_CONTROLLER_URL, HTTPAGENT_PLATFORM_TOKEN):
  job submit TASK [--param k=v]... [--agent ID | --label k=v]... [--priority N] [--wait]
  job status ID                  show a job and its steps
  job logs ID [--follow]         print a job's log
  job cancel ID                  cancel a job
  agents                         list agents

Operations (started by supervisord and self-update, not by hand):
  supervisor-listener [--config FILE]   supervisord event listener: mails an alert on FATAL
  update-guard [--config FILE]          after a self-update switch: health check, rollback

Other:
  --version                      print the version
  --help                         this text

Configuration comes from --config FILE (YAML or JSON) and HTTPAGENT_* variables, which win.
See README.md for every key.
`;

type Main = (argv: string[], env: NodeJS.ProcessEnv) => Promise<number>;

const commands: Record<string, () => Promise<Main>> = {
  controller: async () => (await import('./run-controller.js')).main,
  agent: async () => (await import('./run-agent.js')).main,
  monitor: async () => (await import('./run-monitor.js')).main,
  job: async () => (await import('../cli/job-command.js')).main,
  agents: async () => (await import('../cli/agents-command.js')).main,
  'supervisor-listener': async () => (await import('../ops/supervisor-listener.js')).main,
  'update-guard': async () => (await import('./run-update-guard.js')).main,
};

async function run(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  if (cmd === undefined || cmd === '--help' || cmd === '-h' || cmd === 'help') {
    process.stdout.write(HELP);
    return cmd === undefined ? EXIT.usage : EXIT.ok;
  }
  if (cmd === '--version' || cmd === '-v' || cmd === 'version') {
    process.stdout.write(`${version}\n`);
    return 0;
  }
  const load = commands[cmd];
  if (!load) {
    process.stderr.write(`httpagent: unknown command "${cmd}"; see httpagent --help\n`);
    return EXIT.usage;
  }
  return (await load())(rest, process.env);
}

run(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    const e = err as { code?: string; message?: string };
    process.stderr.write(`httpagent: ${e.code ? `${e.code}: ` : ''}${e.message ?? String(err)}\n`);
    // One policy for every process: a bad setting or bad arguments exit 2, anything else 1.
    process.exitCode = exitStatusFor(err);
  },
);
