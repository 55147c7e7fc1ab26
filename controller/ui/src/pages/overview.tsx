// Overview: the system at a glance. Jobs by state, queue depth and throughput per minute, how long jobs
// wait to be picked up, which tasks fail, and the agents by state.
import { useState } from 'preact/hooks';
import { getJson, type AgentView, type Overview } from '../api.js';
import { StateBadge } from '../components/badges.js';
import { Chart } from '../components/chart.js';
import { duration } from '../format.js';
import { useLive } from '../hooks.js';

const WINDOWS = [
  { label: '1 h', minutes: 60 },
  { label: '6 h', minutes: 360 },
  { label: '24 h', minutes: 1440 },
];

export function OverviewPage() {
  const [win, setWin] = useState(WINDOWS[0]!);
  const { data, error } = useLive(() => getJson<Overview>(`/v1/overview?minutes=${win.minutes}`), [win], (e) => e.type === 'job', 2000);
  const { data: agents } = useLive(() => getJson<AgentView[]>('/v1/agents'), [], (e) => e.type === 'agent', 2000);

  const m = data?.minutes ?? [];
  const x = m.map((r) => r.t);
  const byAgentState = (agents ?? []).reduce<Record<string, number>>((acc, a) => ({ ...acc, [a.state]: (acc[a.state] ?? 0) + 1 }), {});
  const picked = m.reduce((n, r) => n + r.picked, 0);
  const waited = m.reduce((n, r) => n + r.pickupMs, 0);
  const failures = Object.entries(data?.failuresByTask ?? {}).sort((a, b) => b[1] - a[1]);

  return (
    <main id="main" class="page">
      <h1>Overview</h1>
      <p class="lead">
        httpagent runs heavy jobs on a fleet of hosts: the platform submits jobs to this controller, agents claim them under a lease and stream their logs back, and a monitor on each host
        reports its health. <a href="#/jobs">Jobs</a> lists the work, <a href="#/fleet">Fleet</a> the hosts.
      </p>
      {error && <p role="alert" class="error">{error}</p>}
      <div class="cards">
        <section class="card" aria-labelledby="h-jobs">
          <h2 id="h-jobs">Jobs now</h2>
          <ul class="counts">
            {(['queued', 'running', 'succeeded', 'failed', 'cancelled'] as const).map((s) => (
              <li key={s}>
                <a href={`#/jobs?state=${s}`}>
                  <StateBadge state={s} /> <strong>{data?.counts[s] ?? '…'}</strong>
                </a>
              </li>
            ))}
          </ul>
        </section>
        <section class="card" aria-labelledby="h-agents">
          <h2 id="h-agents">Agents</h2>
          <ul class="counts">
            {(['online', 'draining', 'offline', 'revoked'] as const).map((s) => (
              <li key={s}>
                <StateBadge state={s} /> <strong>{byAgentState[s] ?? 0}</strong>
              </li>
            ))}
          </ul>
        </section>
        <section class="card" aria-labelledby="h-pickup">
          <h2 id="h-pickup">Pickup latency</h2>
          <p class="big">{picked ? duration(waited / picked) : '—'}</p>
          <p class="muted small">mean wait from submission to first claim, last {win.label}</p>
        </section>
      </div>
      <div class="range" role="group" aria-label="Time window">
        {WINDOWS.map((w) => (
          <button key={w.label} type="button" aria-pressed={w === win} onClick={() => setWin(w)}>
            {w.label}
          </button>
        ))}
      </div>
      {m.length > 0 && (
        <div class="charts">
          <Chart title="Queue depth and running jobs" x={x} series={[{ label: 'queued', values: m.map((r) => r.queued) }, { label: 'running', values: m.map((r) => r.running) }]} format={(v) => v.toFixed(0)} />
          <Chart
            title="Throughput (jobs per minute)"
            x={x}
            series={[
              { label: 'submitted', values: m.map((r) => r.submitted) },
              { label: 'succeeded', values: m.map((r) => r.done.succeeded) },
              { label: 'failed', values: m.map((r) => r.done.failed) },
              { label: 'cancelled', values: m.map((r) => r.done.cancelled) },
            ]}
            format={(v) => v.toFixed(0)}
          />
          <Chart title="Pickup latency" x={x} series={[{ label: 'mean wait', values: m.map((r) => (r.picked ? r.pickupMs / r.picked : null)) }]} format={(v) => duration(v)} />
        </div>
      )}
      <h2>Failures by task, last {win.label}</h2>
      {failures.length === 0 ? (
        <p>No failed jobs.</p>
      ) : (
        <table>
          <thead>
            <tr>
              <th scope="col">Task</th>
              <th scope="col">Failed jobs</th>
            </tr>
          </thead>
          <tbody>
            {failures.map(([task, n]) => (
              <tr key={task}>
                <td>
                  <a href={`#/jobs?state=failed&task=${encodeURIComponent(task)}`}>{task}</a>
                </td>
                <td>{n}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </main>
  );
}
