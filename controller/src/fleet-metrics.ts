// GET /metrics: the whole fleet in Prometheus text, read from Redis by one script per scrape
// (fleet-metrics-6.lua), so every controller on one Redis reports the same numbers and a scrape costs
// work bounded by the fleet, never by the jobs. Nothing is kept in this process between scrapes.
import { Counter, Gauge, Registry } from 'prom-client';
import type { RunScript } from './commands.js';
import type { Keys } from './keys.js';

export interface FleetMetricsOptions {
  /** An agent unseen this long counts offline (the setting GET /v1/agents uses too). */
  offlineAfterMs: number;
  /**
   * Running jobs looked at per scrape to count them by queue (the total is exact whatever this is):
   * one HGET each inside the script, so 10,000 keep a scrape to a few milliseconds of Redis time.
   */
  maxLeases?: number;
}

export interface FleetMetrics {
  /** The exposition text and its content type. */
  render(): Promise<{ text: string; contentType: string }>;
}

const AGENT_STATES = ['online', 'draining', 'offline', 'revoked'] as const;
const MONITOR_STATES = ['alive', 'lapsed', 'none'] as const;

export function createFleetMetrics(run: RunScript, keys: Keys, opts: FleetMetricsOptions): FleetMetrics {
  const args = { offlineAfterMs: opts.offlineAfterMs, maxLeases: opts.maxLeases ?? 10_000 };
  const scriptKeys = [keys.base, keys.agents, keys.leases, keys.selectors, keys.monitorSeen, keys.stats] as const;

  return {
    async render() {
      const f = await run('fleetMetrics', [...scriptKeys], args);
      // A fresh registry per scrape: concurrent scrapes share nothing, and series of agents, queues and
      // schedules that are gone simply stop being exported.
      const registers = [new Registry()];
      const gauge = <L extends string>(name: string, help: string, labelNames: L[]) => new Gauge<L>({ name, help, labelNames, registers });
      const counter = <L extends string>(name: string, help: string, labelNames: L[]) => new Counter<L>({ name, help, labelNames, registers });

      const jobs = gauge('httpagent_fleet_jobs', 'Jobs queued or running now, by queue (any, agent:<id>, sel:<selector>)', ['state', 'queue']);
      const headWait = gauge('httpagent_fleet_queue_head_wait_seconds', 'How long the job next in line has waited since it entered its queue', ['queue']);
      const leases = gauge('httpagent_fleet_leases', 'Running jobs (live leases), fleet-wide', []);
      const finished = counter('httpagent_fleet_jobs_finished_total', 'Jobs that reached a final state, by state and queue', ['state', 'queue']);
      const agents = gauge('httpagent_fleet_agents', 'Registered agents by state (offline: unseen for offlineAfterMs)', ['state']);
      const agentUp = gauge('httpagent_fleet_agent_up', '1 while the agent is seen (online or draining), 0 once offline; revoked agents are left out', ['agent']);
      const lastSeen = gauge('httpagent_fleet_agent_last_seen_timestamp_seconds', 'When the agent was last heard from (Redis time)', ['agent']);
      const monitors = gauge('httpagent_fleet_monitors', 'Host monitors of agents not revoked, by state (lapsed: its heartbeat key expired; none: never seen)', ['state']);
      const lapsed = gauge('httpagent_fleet_monitor_lapsed', '1 when the host monitor stopped heartbeating, 0 while it does (hosts with a monitor, not revoked)', ['agent']);
      const expiries = counter('httpagent_fleet_lease_expiries_total', 'Leases that expired (the agent stopped renewing), by agent', ['agent']);
      const schedRuns = counter('httpagent_fleet_schedule_runs_total', 'Finished runs of agent schedules, by final state', ['agent', 'schedule', 'state']);
      const schedFailed = gauge('httpagent_fleet_schedule_last_run_failed', '1 when the last finished run of the schedule failed (a cancelled run is not a failure)', ['agent', 'schedule']);
      const schedAt = gauge('httpagent_fleet_schedule_last_run_timestamp_seconds', 'When the last run of the schedule finished', ['agent', 'schedule']);

      leases.set(f.leases);
      for (const q of f.queues) {
        jobs.set({ state: 'queued', queue: q.queue }, q.queued);
        // Counted from at most maxLeases leases: exact unless the fleet runs more jobs than that at once.
        jobs.set({ state: 'running', queue: q.queue }, q.running);
        headWait.set({ queue: q.queue }, (q.headWaitMs ?? 0) / 1000);
      }
      const byState = new Map<string, number>();
      const byMonitor = new Map<string, number>();
      for (const a of f.agents) {
        byState.set(a.state, (byState.get(a.state) ?? 0) + 1);
        lastSeen.set({ agent: a.id }, a.lastSeenAt / 1000);
        // A revoked host was retired on purpose: neither its silence, its monitor's nor its schedules are news.
        if (a.state !== 'revoked') {
          byMonitor.set(a.monitor, (byMonitor.get(a.monitor) ?? 0) + 1);
          agentUp.set({ agent: a.id }, a.state === 'offline' ? 0 : 1);
          if (a.monitor !== 'none') lapsed.set({ agent: a.id }, a.monitor === 'lapsed' ? 1 : 0);
          for (const s of a.schedules) {
            schedFailed.set({ agent: a.id, schedule: s.name }, s.state === 'failed' ? 1 : 0);
            schedAt.set({ agent: a.id, schedule: s.name }, s.finishedAt / 1000);
          }
        }
      }
      for (const s of AGENT_STATES) agents.set({ state: s }, byState.get(s) ?? 0);
      for (const s of MONITOR_STATES) monitors.set({ state: s }, byMonitor.get(s) ?? 0);

      for (let i = 0; i + 1 < f.stats.length; i += 2) {
        const parts = f.stats[i]!.split('|');
        const n = Number(f.stats[i + 1]);
        if (!Number.isFinite(n)) continue;
        // Field layouts: keys.ts `stats`. The queue is last and may itself hold '|'-free ':'s.
        if (parts[0] === 'finished' && parts.length === 3) finished.inc({ state: parts[1]!, queue: parts[2]! }, n);
        else if (parts[0] === 'leaseExpired' && parts.length === 2) expiries.inc({ agent: parts[1]! }, n);
        else if (parts[0] === 'sched' && parts.length === 4) schedRuns.inc({ state: parts[1]!, agent: parts[2]!, schedule: parts[3]! }, n);
      }
      const registry = registers[0]!;
      return { text: await registry.metrics(), contentType: registry.contentType };
    },
  };
}
