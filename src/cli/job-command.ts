// `httpagent job submit|status|logs|cancel`: the console's view of heavy jobs at the controller.
import { parseArgs } from 'node:util';
import type { JobSubmit, JobView } from '../shared/protocol/job.js';
import { createCliContext, EXIT, formatDuration, parseIntOption, reportError, splitPair, UsageError, type CliContext } from './cli-context.js';
import { waitForJob } from './job-wait.js';

const HELP = `Usage:
  httpagent job submit TASK [--param k=v]... [--agent ID | --label k=v]... [--priority N]
                       [--timeout SEC] [--max-attempts N] [--idempotency-key K] [--wait] [--json]
  httpagent job status ID [--json]
  httpagent job logs ID [--follow]
  httpagent job cancel ID

Talks to the controller at HTTPAGENT_CONTROLLER_URL with HTTPAGENT_PLATFORM_TOKEN (or --config FILE).
Exit codes: 0 ok (with --wait: succeeded), 1 failed, 2 usage, 3 controller unreachable,
4 token refused, 5 not found, 130 cancelled (with --wait).
`;

export async function main(argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const [sub, ...rest] = argv;
  if (!sub || sub === '--help' || sub === '-h' || sub === 'help') {
    process.stdout.write(HELP);
    return sub ? EXIT.ok : EXIT.usage;
  }
  const commands: Record<string, (ctx: () => CliContext, args: string[]) => Promise<number>> = { submit, status, logs, cancel };
  const cmd = commands[sub];
  if (!cmd) {
    process.stderr.write(`httpagent job: unknown subcommand "${sub}"\n${HELP}`);
    return EXIT.usage;
  }
  let ctx: CliContext | undefined;
  try {
    const { config, args } = takeConfig(rest);
    return await cmd(() => (ctx ??= createCliContext(config ?? env.HTTPAGENT_CONFIG, env)), args);
  } catch (err) {
    if ((err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      process.stderr.write(`httpagent job ${sub}: ${(err as Error).message}\n`);
      return EXIT.usage;
    }
    return reportError(err, ctx?.controllerUrl);
  } finally {
    await ctx?.close();
  }
}

/** --config FILE is shared by every subcommand; pulled out before each one parses its own options. */
function takeConfig(argv: string[]): { config: string | undefined; args: string[] } {
  const args: string[] = [];
  let config: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--config' || a === '-c') config = argv[++i];
    else if (a.startsWith('--config=')) config = a.slice('--config='.length);
    else args.push(a);
  }
  return { config, args };
}

function one(positionals: string[], what: string): string {
  if (positionals.length !== 1) throw new UsageError(`expected exactly one ${what}; see httpagent job --help`);
  return positionals[0]!;
}

async function submit(ctx: () => CliContext, argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      param: { type: 'string', short: 'p', multiple: true },
      agent: { type: 'string' },
      label: { type: 'string', short: 'l', multiple: true },
      priority: { type: 'string' },
      timeout: { type: 'string' },
      'max-attempts': { type: 'string' },
      'idempotency-key': { type: 'string' },
      wait: { type: 'boolean', short: 'w' },
      json: { type: 'boolean' },
    },
  });
  const task = one(positionals, 'TASK');
  if (values.agent && values.label?.length) throw new UsageError('give --agent or --label, not both');
  const params = Object.fromEntries((values.param ?? []).map((p) => splitPair(p, '--param')));
  const labels = Object.fromEntries((values.label ?? []).map((p) => splitPair(p, '--label')));
  const job: JobSubmit = {
    task,
    ...(Object.keys(params).length ? { params } : {}),
    ...(values.agent ? { agent: values.agent } : {}),
    ...(Object.keys(labels).length ? { labels } : {}),
    ...(values.priority !== undefined ? { priority: parseIntOption(values.priority, 'priority') } : {}),
    ...(values.timeout !== undefined ? { timeoutSec: parseIntOption(values.timeout, 'timeout') } : {}),
    ...(values['max-attempts'] !== undefined ? { maxAttempts: parseIntOption(values['max-attempts'], 'max-attempts') } : {}),
    ...(values['idempotency-key'] !== undefined ? { idempotencyKey: values['idempotency-key'] } : {}),
  };
  const c = ctx();
  const reply = await c.platform.submit(job);
  if (!values.wait) {
    process.stdout.write(values.json ? `${JSON.stringify(reply)}\n` : `${reply.id}\n`);
    return EXIT.ok;
  }
  process.stderr.write(`job ${reply.id} ${reply.state}\n`);
  const final = await waitForJob({ platform: c.platform, id: reply.id, out: process.stderr });
  const took = final.startedAt && final.finishedAt ? ` in ${formatDuration(Date.parse(final.finishedAt) - Date.parse(final.startedAt))}` : '';
  process.stderr.write(`job ${final.id} ${final.state}${took}${final.error ? `: ${final.error}` : ''}\n`);
  process.stdout.write(values.json ? `${JSON.stringify(final)}\n` : `${final.id} ${final.state}\n`);
  return final.state === 'succeeded' ? EXIT.ok : final.state === 'cancelled' ? EXIT.cancelled : EXIT.failed;
}

async function status(ctx: () => CliContext, argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({ args: argv, allowPositionals: true, options: { json: { type: 'boolean' } } });
  const job = await ctx().platform.get(one(positionals, 'job ID'));
  process.stdout.write(values.json ? `${JSON.stringify(job, null, 2)}\n` : renderJob(job));
  return EXIT.ok;
}

export function renderJob(job: JobView): string {
  const when = (s: string | null) => s ?? '-';
  const lines = [
    `job       ${job.id}`,
    `state     ${job.state}${job.cancelRequested && job.state === 'running' ? ' (cancel requested)' : ''}`,
    `attempt   ${job.attempt} of ${job.maxAttempts}`,
    `agent     ${job.agent ?? '-'}`,
    `created   ${job.createdAt}`,
    `started   ${when(job.startedAt)}`,
    `finished  ${when(job.finishedAt)}`,
    `log       ${job.logBytes} bytes${job.logTruncated ? ' (truncated)' : ''}`,
  ];
  if (job.error) lines.push(`error     ${job.error}`);
  lines.push('steps');
  const w = Math.max(4, ...job.steps.map((s) => s.task.length));
  job.steps.forEach((s, i) => {
    const took = s.startedAt && s.finishedAt ? formatDuration(Date.parse(s.finishedAt) - Date.parse(s.startedAt)) : '';
    const exit = s.exitCode !== null ? `exit ${s.exitCode}` : s.signal ? s.signal : '';
    lines.push(`  ${String(i + 1).padStart(2)}. ${s.task.padEnd(w)}  ${s.state.padEnd(9)}  ${exit.padEnd(8)}  ${took}`.trimEnd());
  });
  return `${lines.join('\n')}\n`;
}

async function logs(ctx: () => CliContext, argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({ args: argv, allowPositionals: true, options: { follow: { type: 'boolean', short: 'f' } } });
  const id = one(positionals, 'job ID');
  const { platform } = ctx();
  if (values.follow) {
    const stream = await platform.follow(id);
    for await (const chunk of stream) process.stdout.write(chunk as Buffer);
    return EXIT.ok;
  }
  let offset = 0;
  for (;;) {
    const slice = await platform.log(id, offset);
    if (slice.bytes.length === 0) return EXIT.ok;
    process.stdout.write(slice.bytes);
    offset = slice.nextOffset;
  }
}

async function cancel(ctx: () => CliContext, argv: string[]): Promise<number> {
  const { positionals } = parseArgs({ args: argv, allowPositionals: true, options: {} });
  const id = one(positionals, 'job ID');
  await ctx().platform.cancel(id);
  process.stderr.write(`cancel requested for job ${id}\n`);
  return EXIT.ok;
}
