// `httpagent job <verb>`: the verbs, their options and their help with examples. What each one does is
// in job-actions.ts.
import type { Command } from 'commander';
import { jobStateSchema } from '../shared/protocol/job.js';
import type { CliRuntime } from './cli-context.js';
import { addConsoleOptions, collect, intArg, listArg, timeArg, type ConsoleOptions } from './cli-options.js';
import * as act from './job-actions.js';
import { buildJob } from './job-input.js';
import type { ActionWrapper } from './program.js';

const STATES = jobStateSchema.options;

const OUTCOME_EXITS = `
Exit status: 0 the job succeeded, 1 it failed, 3 it was cancelled; 2 bad usage, 4 token refused,
5 no such job, 6 controller unreachable, 130 Ctrl-C (the job goes on).`;

interface SubmitOptions extends ConsoleOptions {
  param?: string[];
  step?: string[];
  file?: string;
  agent?: string;
  label?: string[];
  priority?: number;
  timeout?: number;
  maxAttempts?: number;
  idempotencyKey?: string;
  wait?: boolean;
}

export function registerJobCommand(program: Command, rt: CliRuntime, action: ActionWrapper): void {
  const job = program
    .command('job')
    .description('queue, list, follow, cancel and retry heavy jobs at the controller')
    .addHelpText(
      'after',
      `
Talks to the controller at HTTPAGENT_CONTROLLER_URL (or --controller) with HTTPAGENT_PLATFORM_TOKEN.

Examples:
  httpagent job submit noop --param message=hello --wait
  httpagent job list --state failed,cancelled --since 1h
  httpagent job wait ID1 ID2
  httpagent job logs ID --follow
  httpagent job retry ID --wait
${OUTCOME_EXITS}`,
    );

  addConsoleOptions(
    job
      .command('submit [task]')
      .description('queue a job: one TASK with --param, several --step, or a whole job from --file')
      .option('-p, --param <k=v>', 'a param of TASK (repeatable); numbers and booleans arrive as strings', collect)
      .option('-s, --step <task:k=v,...>', 'a step (repeatable, in order): TASK or TASK:k=v,k=v', collect)
      .option('-f, --file <job.yaml|json>', 'the whole job: {task, params} or {steps: [...]}, plus any option below')
      .option('--agent <id>', 'only this agent may run it')
      .option('-l, --label <k=v>', 'any agent with this label may run it (repeatable: all of them)', collect)
      .option('--priority <n>', 'higher runs first, -100..100 (default 0)', intArg(-100, 100))
      .option('--timeout <sec>', 'whole-job timeout in seconds', intArg(1, 7 * 86_400))
      .option('--max-attempts <n>', 're-deliveries after lost leases before it fails (controller default 3)', intArg(1, 100))
      .option('--idempotency-key <key>', 'the same key again answers the job already queued (default: a random one per submit)')
      .option('-w, --wait', 'follow the job to its end, its log on stderr, and exit with its outcome'),
  )
    .addHelpText(
      'after',
      `
Prints the job id (or the reply with --json). If no registered agent can take the job, it says why
(NO_MATCHING_AGENT, AGENT_OFFLINE). With --wait, progress goes to stderr: a live line on a terminal,
one line per change otherwise; stdout gets "ID STATE" (or the job with --json).

Examples:
  httpagent job submit noop --param message=hello --param sleep=2 --wait
  httpagent job submit deploy -p dir=/srv/app -p source=/tmp/app.tgz --label role=web --priority 10
  httpagent job submit --step init:dir=/srv/app --step deploy:dir=/srv/app,source=/tmp/app.tgz --agent host-1
  httpagent job submit --file deploy.yaml --idempotency-key deploy-1.2 --wait
  id=$(httpagent job submit noop) && httpagent job wait "$id"
${OUTCOME_EXITS}`,
    )
    .action(
      action(async (connect, o, task: string | undefined) => {
        const so = o as SubmitOptions;
        const spec = buildJob({ ...so, task, param: so.param ?? [], step: so.step ?? [], label: so.label ?? [] });
        return act.submit(rt, connect(), spec, so);
      }),
    );

  addConsoleOptions(
    job
      .command('list')
      .description('jobs, newest first, filtered on the controller and paged')
      .option('--state <state,...>', `only these states: ${STATES.join(', ')}`, listArg(STATES))
      .option('--agent <id>', 'targeted at or run by this agent')
      .option('-l, --label <k=v>', 'targeted at labels including this one (repeatable)', collect)
      .option('--task <task>', 'with a step of this task')
      .option('--since <time>', 'created since: ISO 8601, epoch ms, or an age like 30m, 2h, 7d', timeArg())
      .option('--until <time>', 'created before: same forms', timeArg())
      .option('-n, --limit <n>', 'at most this many (1..1000)', intArg(1, 1000), 20)
      .option('--cursor <cursor>', 'continue after the page that printed it'),
  )
    .addHelpText(
      'after',
      `
More pages: the command prints "--cursor C" on stderr when older jobs may follow (in --json: nextCursor).

Examples:
  httpagent job list
  httpagent job list --state failed,cancelled --since 2h
  httpagent job list --label role=web --task deploy --limit 50
  httpagent job list --agent host-1 --json | jq -r '.jobs[].id'`,
    )
    .action(action(async (connect, o) => act.list(rt, connect(), { ...(o as act.ListOptions), label: (o as act.ListOptions).label ?? [] })));

  addConsoleOptions(job.command('status <id>').description("a job's state, target, attempts and steps"))
    .addHelpText(
      'after',
      `
Exit status 0 whatever the job's state (use "job wait" for its outcome); 5 when there is no such job.

Examples:
  httpagent job status ID
  httpagent job status ID --json | jq .state`,
    )
    .action(action(async (connect, o, id: string) => act.status(rt, connect(), id, o)));

  addConsoleOptions(
    job
      .command('wait <id...>')
      .description('wait until the jobs end; the exit status is their outcome')
      .option('--log', "stream the job's log on stderr while waiting (one job)"),
  )
    .addHelpText(
      'after',
      `
Returns at once for a job that already ended. Several jobs: a line per change of each, and the worst
outcome decides the status (a failure, then a cancellation).

Examples:
  httpagent job wait ID && echo "it worked"
  httpagent job wait ID1 ID2 ID3 --quiet; echo "exit $?"
${OUTCOME_EXITS}`,
    )
    .action(action(async (connect, o, ids: string[]) => act.wait(rt, connect(), ids, o)));

  addConsoleOptions(job.command('logs <id>').description("a job's log on stdout").option('-f, --follow', 'keep streaming until the job ends, then exit with its outcome'))
    .addHelpText(
      'after',
      `
Without --follow: the log so far, exit 0. With --follow: exit status as for "job wait".

Examples:
  httpagent job logs ID
  httpagent job logs ID --follow | tee deploy.log
${OUTCOME_EXITS}`,
    )
    .action(action(async (connect, o, id: string) => act.logs(rt, connect(), id, o)));

  addConsoleOptions(job.command('cancel <id...>').description('cancel jobs: a queued one at once, a running one through its agent'))
    .addHelpText(
      'after',
      `
A job that already succeeded or failed cannot be cancelled (JOB_FINAL, exit 1).

Examples:
  httpagent job cancel ID
  httpagent job cancel ID1 ID2 && httpagent job wait ID1 ID2`,
    )
    .action(action(async (connect, o, ids: string[]) => act.cancel(rt, connect(), ids, o)));

  addConsoleOptions(
    job
      .command('retry <id>')
      .description('queue a finished job again, as a new job with the same steps and target')
      .option('--priority <n>', "override the original's priority", intArg(-100, 100))
      .option('--idempotency-key <key>', 'the same key again answers the retry already made (default: a random one)')
      .option('-w, --wait', 'follow the new job to its end and exit with its outcome'),
  )
    .addHelpText(
      'after',
      `
The original keeps its log and outcome; the new job's "retryOf" names it. Prints the new id.

Examples:
  httpagent job retry ID
  httpagent job retry ID --priority 50 --wait
${OUTCOME_EXITS}`,
    )
    .action(action(async (connect, o, id: string) => act.retry(rt, connect(), id, o)));
}
