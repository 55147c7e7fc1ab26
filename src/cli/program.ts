// The console's command tree on commander: `httpagent <noun> <verb>`, --help at every level with
// examples, typo suggestions, typed options, and one policy for what a mistake costs: one line on stderr
// naming the command and exit 2. The process commands (controller, agent...) are added by src/bin.
import { Command, CommanderError } from 'commander';
import { EXIT } from '../shared/errors.js';
import { version } from '../shared/package-info.js';
import { registerAgentsCommand } from './agents-command.js';
import { createCliContext, reportError, type CliContext, type CliRuntime } from './cli-context.js';
import type { ConsoleOptions } from './cli-options.js';
import { registerCompletionCommand } from './completion.js';
import { registerJobCommand } from './job-command.js';
import { createTerminal, type Out } from './terminal.js';

export interface CliIo {
  stdout: Out;
  stderr: Out;
  env: NodeJS.ProcessEnv;
}

export interface Cli {
  program: Command;
  runtime: CliRuntime;
  /** Records the exit status of the command that ran. */
  exitWith(code: number): void;
  /** Parses and runs; resolves with the exit status. */
  run(argv: string[]): Promise<number>;
}

/** A console command's work: connects lazily, returns its exit status; errors become one line and a status. */
export type ConsoleAction<A extends unknown[]> = (connect: () => CliContext, opts: ConsoleOptions, ...args: A) => Promise<number>;

/** Turns a ConsoleAction into a commander action handler (see createCli). */
export type ActionWrapper = <A extends unknown[]>(fn: ConsoleAction<A>) => (...args: unknown[]) => Promise<void>;

const TOP_HELP = `
Examples:
  export HTTPAGENT_CONTROLLER_URL=http://127.0.0.1:9890 HTTPAGENT_PLATFORM_TOKEN=...
  httpagent job submit noop --param message=hello --wait
  httpagent job submit --step init:dir=/srv/app --step deploy:dir=/srv/app,source=/tmp/app.tgz --label role=web
  httpagent job list --state failed --since 2h
  httpagent job wait ID && echo succeeded
  httpagent agents
  curl -H "authorization: Bearer $(httpagent token AGENT_ID)" http://HOST:9889/healthz
  httpagent agent --self-test --config /opt/httpagent/etc/httpagent.yaml
  source <(httpagent completion bash)

Settings come from --config FILE (YAML or JSON) and HTTPAGENT_* variables, which win; README.md lists
every key. Exit statuses: 0 ok or the job succeeded, 1 failed, 2 usage or bad setting, 3 cancelled,
4 token refused, 5 no such job, 6 controller unreachable, 130 interrupted (docs/errors.md).
`;

/** `httpagent job submit` for a command deep in the tree. */
export function commandPath(cmd: Command): string {
  const names: string[] = [];
  for (let c: Command | null = cmd; c; c = c.parent) names.unshift(c.name());
  return names.join(' ');
}

/** commander's `error: unknown option '--lable'\n(Did you mean --label?)` as one line naming the command. */
export function usageLine(cmd: Command, message: string): string {
  const text = message
    .trim()
    .replace(/^error:\s*/, '')
    .replace(/\s*\n\(Did you mean (.+)\?\)/, ' (did you mean $1?)')
    .replace(/\s*\n\s*/g, ' ')
    .replace(/\.$/, '');
  const path = commandPath(cmd);
  return `${path}: ${text}; see '${path} --help'\n`;
}

function everyCommand(cmd: Command): Command[] {
  return [cmd, ...cmd.commands.flatMap(everyCommand)];
}

export function createCli(io: CliIo): Cli {
  const term = createTerminal(io.stdout, io.stderr, io.env);
  const interrupt = new AbortController();
  const runtime: CliRuntime = { env: io.env, term, signal: interrupt.signal };
  let code: number | undefined;
  const exitWith = (c: number) => {
    code = c;
  };

  const program = new Command('httpagent')
    .description(`httpagent ${version}: a host agent for test platforms (agent, monitor, controller, and this console)`)
    .version(version, '-v, --version', 'print the version')
    .helpOption('-h, --help', 'show help')
    .helpCommand('help [command]', 'show help for a command')
    .addHelpText('after', TOP_HELP);

  /** Wraps a console command's work: Ctrl-C stops watching (a second one exits at once). */
  const action: ActionWrapper = <A extends unknown[]>(fn: ConsoleAction<A>) =>
    async (...args: unknown[]): Promise<void> => {
      const cmd = args[args.length - 1] as Command;
      const opts = cmd.opts<ConsoleOptions>();
      const positional = args.slice(0, -2) as A;
      let ctx: CliContext | undefined;
      const onInt = () => {
        if (interrupt.signal.aborted) process.exit(EXIT.interrupted);
        interrupt.abort();
      };
      process.on('SIGINT', onInt);
      try {
        exitWith(await fn(() => (ctx ??= createCliContext(opts, io.env)), opts, ...positional));
      } catch (err) {
        exitWith(reportError(err, term, ctx?.controllerUrl, commandPath(cmd)));
      } finally {
        process.off('SIGINT', onInt);
        await ctx?.close();
      }
    };

  registerJobCommand(program, runtime, action);
  registerAgentsCommand(program, runtime, action);
  registerCompletionCommand(program, runtime);

  return {
    program,
    runtime,
    exitWith,
    async run(argv) {
      for (const cmd of everyCommand(program)) {
        cmd.exitOverride().configureOutput({
          writeOut: (s) => void io.stdout.write(s),
          writeErr: (s) => void io.stderr.write(s),
          outputError: (s, write) => write(usageLine(cmd, s)),
        });
      }
      try {
        await program.parseAsync(argv, { from: 'user' });
      } catch (err) {
        if (!(err instanceof CommanderError)) throw err;
        // --help and --version end here too, with exit code 0; a bare `httpagent job` shows help as an error.
        return err.exitCode === 0 ? EXIT.ok : EXIT.usage;
      }
      return code ?? EXIT.ok;
    },
  };
}
