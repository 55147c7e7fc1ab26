// `httpagent agents [list]`: the controller's agents as a table, or JSON with --json.
import type { Command } from 'commander';
import type { AgentView } from '../shared/protocol/platform-api.js';
import { EXIT, type CliRuntime } from './cli-context.js';
import { addConsoleOptions } from './cli-options.js';
import { table } from './job-render.js';
import type { ActionWrapper } from './program.js';
import { formatDuration, type Painter } from './terminal.js';

const AGENT_COLOURS: Record<string, string> = { online: 'succeeded', draining: 'queued', offline: 'failed' };

export function renderAgents(agents: AgentView[], t: Painter, now: number): string {
  if (agents.length === 0) return '(no agents)\n';
  const rows = [['ID', 'STATE', 'JOBS', 'VERSION', 'HOST', 'LAST SEEN', 'MONITOR', 'LABELS']];
  for (const a of agents) {
    const seen = Date.parse(a.lastSeenAt);
    rows.push([
      a.id,
      t.state(AGENT_COLOURS[a.state] ?? a.state, a.state),
      `${a.running}/${a.capacity}`,
      a.version,
      a.hostname,
      Number.isFinite(seen) ? `${formatDuration(Math.max(0, now - seen))} ago` : '-',
      a.monitor,
      Object.entries(a.labels)
        .map(([k, v]) => `${k}=${v}`)
        .join(',') || '-',
    ]);
  }
  return `${table(rows)}\n`;
}

export function registerAgentsCommand(program: Command, rt: CliRuntime, action: ActionWrapper): void {
  const list = action(async (connect, o) => {
    const agents = await connect().platform.agents();
    rt.term.out.write(o.json ? `${JSON.stringify(agents, null, 2)}\n` : renderAgents(agents, rt.term.outPaint, Date.now()));
    return EXIT.ok;
  });
  const agents = addConsoleOptions(program.command('agents').description('the agents registered with the controller: state, jobs, version, labels'))
    .addHelpText(
      'after',
      `
Examples:
  httpagent agents
  httpagent agents --json | jq -r '.[] | select(.state != "online") | .id'`,
    )
    .action(list);
  addConsoleOptions(agents.command('list').description('the same as "httpagent agents"')).action(list);
}
