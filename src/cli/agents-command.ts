// `httpagent agents`: the controller's list of agents as a table (or JSON with --json).
import { parseArgs } from 'node:util';
import type { AgentView } from '../shared/protocol/platform-api.js';
import { createCliContext, EXIT, formatDuration, reportError, type CliContext } from './cli-context.js';

export async function main(argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  let ctx: CliContext | undefined;
  try {
    const { values } = parseArgs({ args: argv, options: { json: { type: 'boolean' }, config: { type: 'string', short: 'c' }, help: { type: 'boolean', short: 'h' } } });
    if (values.help) {
      process.stdout.write('Usage: httpagent agents [--json] [--config FILE]\n');
      return EXIT.ok;
    }
    ctx = createCliContext(values.config ?? env.HTTPAGENT_CONFIG, env);
    const agents = await ctx.platform.agents();
    process.stdout.write(values.json ? `${JSON.stringify(agents, null, 2)}\n` : renderAgents(agents, Date.now()));
    return EXIT.ok;
  } catch (err) {
    if ((err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      process.stderr.write(`httpagent agents: ${(err as Error).message}\n`);
      return EXIT.usage;
    }
    return reportError(err, ctx?.controllerUrl);
  } finally {
    await ctx?.close();
  }
}

export function renderAgents(agents: AgentView[], now: number): string {
  const rows = [['ID', 'STATE', 'JOBS', 'VERSION', 'HOST', 'LAST SEEN', 'LABELS']];
  for (const a of agents) {
    const seen = a.lastSeenAt ? Date.parse(a.lastSeenAt) : NaN;
    rows.push([
      a.id,
      a.state,
      `${a.running ?? 0}/${a.capacity ?? '?'}`,
      a.version ?? '-',
      a.hostname ?? '-',
      Number.isFinite(seen) ? `${formatDuration(Math.max(0, now - seen))} ago` : '-',
      Object.entries(a.labels ?? {})
        .map(([k, v]) => `${k}=${v}`)
        .join(',') || '-',
    ]);
  }
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return `${rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  ')).join('\n')}\n${agents.length === 0 ? '(no agents)\n' : ''}`;
}
