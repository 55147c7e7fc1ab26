// `httpagent agents [list]`: the controller's agents as a table, or JSON with --json; `agents remove ID`
// revokes one; `httpagent token ID` mints a port token for one agent's port.
import type { Command } from 'commander';
import type { AgentView } from '../shared/protocol/platform-api.js';
import { EXIT, type CliRuntime } from './cli-context.js';
import { addConsoleOptions, intArg } from './cli-options.js';
import { table } from './job-render.js';
import type { ActionWrapper } from './program.js';
import { formatDuration, type Painter } from './terminal.js';

const AGENT_COLOURS: Record<string, string> = { online: 'succeeded', draining: 'queued', offline: 'failed', revoked: 'cancelled' };

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

  addConsoleOptions(
    agents
      .command('remove')
      .argument('<agent-id>', 'the agent to revoke')
      .description("revoke an agent's credential at once: it stops, and the jobs it holds go back to their queues"),
  )
    .addHelpText(
      'after',
      `
The agent hears CREDENTIAL_REVOKED on its next call and stops taking work. It can join again only by
enrolling anew (a fresh enrollment token in its enrollTokenFile), after its old credential file is removed.

Examples:
  httpagent agents remove web-17`,
    )
    .action(
      action<[string]>(async (connect, o, id) => {
        const r = await connect().platform.revokeAgent(id);
        if (o.json) rt.term.out.write(`${JSON.stringify(r, null, 2)}\n`);
        else if (!o.quiet) rt.term.out.write(`revoked ${r.agentId}: ${r.requeued} job${r.requeued === 1 ? '' : 's'} re-queued, ${r.cancelled} cancelled\n`);
        return EXIT.ok;
      }),
    );

  addConsoleOptions(
    program
      .command('token')
      .argument('<agent-id>', 'the agent whose port the token opens')
      .option('--ttl <seconds>', 'how long the token lives (10-300, default: the controller\'s)', intArg(10, 300))
      .description("mint a short-lived port token for one agent's port (/healthz details, /v1/run, /v1/delete, ...)"),
  )
    .addHelpText(
      'after',
      `
Prints the token alone on stdout (with --json also when it expires), so it fits a command substitution.

Examples:
  curl -H "authorization: Bearer $(httpagent token web-17)" http://web-17:9889/healthz
  httpagent token web-17 --ttl 60 --json`,
    )
    .action(
      action<[string]>(async (connect, o, id) => {
        const ttl = (o as { ttl?: number }).ttl;
        const t = await connect().platform.portToken(id, ttl);
        rt.term.out.write(o.json ? `${JSON.stringify(t, null, 2)}\n` : `${t.token}\n`);
        return EXIT.ok;
      }),
    );
}
