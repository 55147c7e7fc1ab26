// Host: one agent's monitor history as charts (CPU, load, memory, disk I/O, network, filesystems) over
// 1 h, 6 h or 24 h, its alerts, and the jobs it ran. New samples are appended as their events arrive.
import { useEffect, useMemo, useState } from 'preact/hooks';
import { getJson, listJobs, type AgentView } from '../api.js';
import { StateBadge } from '../components/badges.js';
import { Chart, type Series } from '../components/chart.js';
import { onEvent } from '../events.js';
import { ago, bytes, duration, span } from '../format.js';
import { useLive, useNow } from '../hooks.js';
import { hrefJob } from '../router.js';

type Sample = Record<string, unknown> & { ts: number };

const RANGES = [
  { label: '1 h', ms: 3_600_000 },
  { label: '6 h', ms: 6 * 3_600_000 },
  { label: '24 h', ms: 24 * 3_600_000 },
];

const get = (o: unknown, ...path: string[]): number | null => {
  let v: unknown = o;
  for (const k of path) v = v !== null && typeof v === 'object' ? (v as Record<string, unknown>)[k] : undefined;
  return typeof v === 'number' && Number.isFinite(v) ? v : null;
};

/** The names under a per-device map (disks, net, filesystems) across all samples. */
function namesOf(samples: Sample[], field: string): string[] {
  const names = new Set<string>();
  for (const s of samples) {
    const m = s[field];
    if (m && typeof m === 'object') for (const k of Object.keys(m)) names.add(k);
  }
  return [...names].sort();
}

interface AlertCheck {
  status: 'ok' | 'failing' | 'alerting';
  since?: number;
  detail?: string;
  count?: number;
  flapping?: boolean;
  incidents?: number[];
}

export function HostPage({ id }: { id: string }) {
  const [range, setRange] = useState(RANGES[0]!);
  const [samples, setSamples] = useState<Sample[]>([]);
  const [error, setError] = useState<string | undefined>();
  const now = useNow(5000);
  const { data: agent } = useLive(async () => (await getJson<AgentView[]>('/v1/agents')).find((a) => a.id === id), [id], (e) => e.type === 'agent' && e.id === id, 1000);
  const { data: alerts } = useLive(() => getJson<{ state: { checks: Record<string, AlertCheck> } | null }>(`/v1/agents/${encodeURIComponent(id)}/alerts`), [id], (e) => e.type === 'sample' && e.id === id, 30_000);
  const { data: jobs } = useLive(() => listJobs(new URLSearchParams({ agent: id, limit: '15' })), [id], (e) => e.type === 'job' && e.agent === id, 1000);

  useEffect(() => {
    let alive = true;
    let last = Date.now() - range.ms;
    let busy = false;
    const load = async () => {
      if (busy) return;
      busy = true;
      try {
        const r = await getJson<{ samples: Sample[] }>(`/v1/agents/${encodeURIComponent(id)}/metrics?since=${last + 1}`);
        if (!alive) return;
        if (r.samples.length) last = r.samples[r.samples.length - 1]!.ts;
        const cutoff = Date.now() - range.ms;
        setSamples((old) => [...old, ...r.samples].filter((s) => s.ts >= cutoff));
        setError(undefined);
      } catch (err) {
        if (alive) setError((err as Error).message);
      } finally {
        busy = false;
      }
    };
    setSamples([]);
    void load();
    // A sample event says there is more: read from the last one we have.
    const off = onEvent((e) => {
      if ((e.type === 'sample' && e.id === id) || e.type === 'reset') void load();
    });
    return () => {
      alive = false;
      off();
    };
  }, [id, range]);

  const charts = useMemo(() => {
    const x = samples.map((s) => s.ts);
    const series = (label: string, f: (s: Sample) => number | null): Series => ({ label, values: samples.map(f) });
    const disks = namesOf(samples, 'disks');
    const nets = namesOf(samples, 'net');
    const fss = namesOf(samples, 'filesystems');
    return {
      x,
      cpu: [series('user', (s) => get(s, 'cpu', 'userPercent')), series('system', (s) => get(s, 'cpu', 'systemPercent')), series('iowait', (s) => get(s, 'cpu', 'iowaitPercent'))],
      load: [series('1 min', (s) => get(s, 'load', 'load1')), series('5 min', (s) => get(s, 'load', 'load5')), series('15 min', (s) => get(s, 'load', 'load15'))],
      memory: [series('used', (s) => get(s, 'memory', 'usedPercent')), series('swap used', (s) => { const t = get(s, 'memory', 'swapTotalBytes'); const u = get(s, 'memory', 'swapUsedBytes'); return t && u !== null ? (u / t) * 100 : null; })],
      disk: disks.flatMap((d) => [series(`${d} read`, (s) => get(s, 'disks', d, 'readBytesPerSec')), series(`${d} write`, (s) => get(s, 'disks', d, 'writeBytesPerSec'))]),
      net: nets.flatMap((n) => [series(`${n} in`, (s) => get(s, 'net', n, 'rxBytesPerSec')), series(`${n} out`, (s) => get(s, 'net', n, 'txBytesPerSec'))]),
      fs: fss.map((f) => series(f, (s) => get(s, 'filesystems', f, 'usedPercent'))),
    };
  }, [samples]);

  const checks = Object.entries(alerts?.state?.checks ?? {});
  const open = checks.filter(([, c]) => c.status !== 'ok');
  const pct = (v: number) => `${v.toFixed(0)} %`;
  const rate = (v: number) => `${bytes(v)}/s`;

  return (
    <main id="main" class="page">
      <p class="crumbs">
        <a href="#/fleet">Fleet</a> / {id}
      </p>
      <h1>
        Host {id} {agent && <StateBadge state={agent.state} />}
      </h1>
      {agent ? (
        <dl class="facts">
          <dt>Host name</dt>
          <dd>{agent.hostname}</dd>
          <dt>Addresses</dt>
          <dd>{agent.addresses.join(', ') || '—'}</dd>
          <dt>Version</dt>
          <dd>
            {agent.version} {agent.commit && <span class="mono muted">{agent.commit.slice(0, 12)}</span>}
          </dd>
          <dt>Running</dt>
          <dd>
            {agent.running} of {agent.capacity}
          </dd>
          <dt>Labels</dt>
          <dd>{Object.entries(agent.labels).map(([k, v]) => <span key={k} class="label">{k}={v}</span>)}</dd>
          <dt>Last seen</dt>
          <dd>{ago(agent.lastSeenAt, now)}</dd>
          <dt>Monitor</dt>
          <dd>
            {agent.monitor}, last sample {ago(agent.monitorSeenAt, now)}
          </dd>
        </dl>
      ) : (
        <p>Loading agent…</p>
      )}

      <div class="range" role="group" aria-label="Time range">
        {RANGES.map((r) => (
          <button key={r.label} type="button" aria-pressed={r === range} onClick={() => setRange(r)}>
            {r.label}
          </button>
        ))}
        <span class="muted small" data-testid="sample-count">
          {samples.length} samples · drag on a chart to zoom, double-click to zoom out
        </span>
      </div>
      {error && <p role="alert" class="error">{error}</p>}
      {samples.length === 0 ? (
        <p>No monitor samples in this range. Is <code>httpagent monitor</code> running on the host?</p>
      ) : (
        <div class="charts">
          <Chart title="CPU (%)" x={charts.x} series={charts.cpu} format={pct} />
          <Chart title="Load average" x={charts.x} series={charts.load} />
          <Chart title="Memory (%)" x={charts.x} series={charts.memory} format={pct} />
          {charts.disk.length > 0 && <Chart title="Disk I/O" x={charts.x} series={charts.disk} format={rate} />}
          {charts.net.length > 0 && <Chart title="Network" x={charts.x} series={charts.net} format={rate} />}
          {charts.fs.length > 0 && <Chart title="Filesystem use (%)" x={charts.x} series={charts.fs} format={pct} />}
        </div>
      )}

      <h2>Alerts</h2>
      {open.length === 0 ? (
        <p>No open alerts.</p>
      ) : (
        <ul class="alerts">
          {open.map(([name, c]) => (
            <li key={name} class={c.status === 'alerting' ? 'attention' : ''}>
              <StateBadge state={c.status} /> <strong>{name}</strong> since {c.since ? ago(c.since, now) : '—'} {c.flapping ? '(flapping)' : ''}
              {c.detail && <div class="muted">{c.detail}</div>}
            </li>
          ))}
        </ul>
      )}
      {checks.some(([, c]) => (c.incidents ?? []).length > 0) && (
        <details>
          <summary>Alert history</summary>
          <ul>
            {checks.flatMap(([name, c]) => (c.incidents ?? []).map((t) => <li key={`${name}${t}`}>{name}: incident opened {new Date(t).toLocaleString(undefined, { hour12: false })}</li>))}
          </ul>
        </details>
      )}

      <h2>Recent jobs</h2>
      {jobs && jobs.jobs.length > 0 ? (
        <table>
          <thead>
            <tr>
              <th scope="col">Job</th>
              <th scope="col">State</th>
              <th scope="col">Task</th>
              <th scope="col">Created</th>
              <th scope="col">Took</th>
            </tr>
          </thead>
          <tbody>
            {jobs.jobs.map((j) => (
              <tr key={j.id}>
                <td class="mono">
                  <a href={hrefJob(j.id)}>{j.id}</a>
                </td>
                <td>
                  <StateBadge state={j.state} />
                </td>
                <td>{j.steps.map((s) => s.task).join(' → ')}</td>
                <td>{ago(j.createdAt, now)}</td>
                <td>{duration(span(j.startedAt, j.finishedAt, now))}</td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : (
        <p>No jobs for this agent yet.</p>
      )}

      <h2>Schedules</h2>
      <p class="muted">Schedules live in the agent's own configuration; the controller does not know them or their next fire times.</p>
    </main>
  );
}
