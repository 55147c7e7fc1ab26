// Fleet: every agent with its state, labels, version, load and monitor freshness; hosts that are offline,
// revoked, stale or failing a check stand out. Agent state and samples arrive as events. An admin can
// drain an agent (it finishes its jobs, takes no new one) or remove it: its credential is revoked
// (DELETE /v1/agents/:id) and the jobs it held run elsewhere.
import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { ApiError, call, getJson, type AgentView, type DashboardEvent } from '../api.js';
import { Meter, StateBadge } from '../components/badges.js';
import { Sparkline } from '../components/sparkline.js';
import { onEvent } from '../events.js';
import { ago } from '../format.js';
import { useLive, useNow } from '../hooks.js';
import { hrefHost } from '../router.js';
import { useCanAct } from '../session.js';

const SPARK_POINTS = 30;
type Spark = { cpu: (number | null)[]; memory: (number | null)[]; disk: (number | null)[] };

const num = (o: unknown, ...path: string[]): number | null => {
  let v: unknown = o;
  for (const k of path) v = v !== null && typeof v === 'object' ? (v as Record<string, unknown>)[k] : undefined;
  return typeof v === 'number' && Number.isFinite(v) ? v : null;
};

function diskOf(metrics: Record<string, unknown> | null): number | null {
  const fs = metrics?.filesystems;
  if (!fs || typeof fs !== 'object') return null;
  const used = Object.values(fs as Record<string, unknown>).map((f) => num(f, 'usedPercent')).filter((v): v is number => v !== null);
  return used.length ? Math.max(...used) : null;
}

/** Why a row stands out, or '' when it is healthy. */
export function trouble(a: AgentView, now: number): string {
  if (a.state === 'offline') return 'offline';
  if (a.state === 'revoked') return 'credential revoked';
  if (a.monitor === 'lapsed') return 'monitor silent';
  const failing = Object.entries(a.monitorChecks ?? {}).filter(([, ok]) => !ok).map(([k]) => k);
  if (failing.length) return `failing: ${failing.join(', ')}`;
  const disk = diskOf(a.metrics);
  if (disk !== null && disk >= 90) return 'disk nearly full';
  const seen = a.monitorSeenAt ? now - Date.parse(a.monitorSeenAt) : Infinity;
  if (a.monitor === 'unknown' || seen > 120_000) return 'no recent samples';
  return '';
}

type SortKey = 'id' | 'state' | 'running' | 'cpu' | 'memory' | 'disk' | 'seen';

/** An agent's state and running count, and its monitor's freshness on a sample, changed in the list at once. */
function applyAgentEvent(list: AgentView[], e: DashboardEvent): AgentView[] {
  if (e.type === 'agent') {
    return list.map((a) =>
      // A revoked agent stays revoked when it falls silent; it is back only once it registers again.
      a.id === e.id && !(a.state === 'revoked' && e.state === 'offline')
        ? { ...a, state: e.state, ...(e.running !== undefined ? { running: e.running } : {}), ...(e.lastSeenAt && e.state !== 'offline' ? { lastSeenAt: new Date(e.lastSeenAt).toISOString() } : {}) }
        : a,
    );
  }
  if (e.type === 'sample') return list.map((a) => (a.id === e.id ? { ...a, monitorSeenAt: new Date().toISOString(), monitor: 'online' } : a));
  return list;
}

export function FleetPage() {
  // Known agents change by events; an agent never seen (just registered) makes the list load again.
  const known = useRef(new Set<string>());
  const { data: agents, error } = useLive(() => getJson<AgentView[]>('/v1/agents'), [], (e) => e.type === 'agent' && !known.current.has(e.id), 1000, applyAgentEvent);
  known.current = new Set((agents ?? []).map((a) => a.id));
  const [sparks, setSparks] = useState<Record<string, Spark>>({});
  const [filter, setFilter] = useState('');
  const [stateFilter, setStateFilter] = useState('');
  const [sort, setSort] = useState<{ key: SortKey; desc: boolean }>({ key: 'id', desc: false });
  const now = useNow();
  const canAct = useCanAct();
  /** The agent whose removal waits for a second click (a revocation cannot be undone from here). */
  const [confirming, setConfirming] = useState<string | undefined>(undefined);
  const [note, setNote] = useState('');

  const drain = async (id: string, on: boolean) => {
    try {
      await call(on ? 'POST' : 'DELETE', `/v1/agents/${encodeURIComponent(id)}/drain`, on ? {} : undefined);
      setNote(on ? `Draining ${id}: it finishes its jobs and takes no new one.` : `Resumed ${id}: it takes jobs again.`);
    } catch (err) {
      setNote(`Could not ${on ? 'drain' : 'resume'} ${id}: ${err instanceof ApiError ? err.message : String(err)}`);
    }
  };

  const revoke = async (id: string) => {
    setConfirming(undefined);
    try {
      const r = (await (await call('DELETE', `/v1/agents/${encodeURIComponent(id)}`)).json()) as { requeued: number; cancelled: number };
      setNote(`Revoked ${id}: ${r.requeued} job(s) re-queued, ${r.cancelled} cancelled.`);
    } catch (err) {
      setNote(`Could not revoke ${id}: ${err instanceof ApiError ? err.message : String(err)}`);
    }
  };

  // Seed each sparkline with the latest sample the list carries.
  useEffect(() => {
    if (!agents) return;
    setSparks((old) => {
      const next = { ...old };
      for (const a of agents) {
        next[a.id] ??= { cpu: [num(a.metrics, 'cpu', 'busyPercent')], memory: [num(a.metrics, 'memory', 'usedPercent')], disk: [diskOf(a.metrics)] };
      }
      return next;
    });
  }, [agents]);

  // Each new sample extends the sparklines (the list itself changes through applyAgentEvent).
  useEffect(
    () =>
      onEvent((e) => {
        if (e.type !== 'sample') return;
        setSparks((old) => {
          const s = old[e.id] ?? { cpu: [], memory: [], disk: [] };
          const add = (arr: (number | null)[], v: number | null) => [...arr, v].slice(-SPARK_POINTS);
          return { ...old, [e.id]: { cpu: add(s.cpu, e.cpu), memory: add(s.memory, e.memory), disk: add(s.disk, e.disk) } };
        });
      }),
    [],
  );

  const rows = useMemo(() => {
    const f = filter.trim().toLowerCase();
    const list = (agents ?? []).filter(
      (a) =>
        (!stateFilter || a.state === stateFilter) &&
        (!f || a.id.toLowerCase().includes(f) || a.hostname.toLowerCase().includes(f) || Object.entries(a.labels).some(([k, v]) => `${k}=${v}`.toLowerCase().includes(f))),
    );
    const last = (id: string, k: keyof Spark) => sparks[id]?.[k].at(-1) ?? -1;
    const key = (a: AgentView): string | number => {
      switch (sort.key) {
        case 'state':
          return a.state;
        case 'running':
          return a.running / Math.max(1, a.capacity);
        case 'cpu':
        case 'memory':
        case 'disk':
          return last(a.id, sort.key) ?? -1;
        case 'seen':
          return Date.parse(a.lastSeenAt);
        default:
          return a.id;
      }
    };
    return list.sort((a, b) => {
      const x = key(a);
      const y = key(b);
      const c = x < y ? -1 : x > y ? 1 : 0;
      return sort.desc ? -c : c;
    });
  }, [agents, filter, stateFilter, sort, sparks]);

  const counts = (agents ?? []).reduce<Record<string, number>>((acc, a) => ({ ...acc, [a.state]: (acc[a.state] ?? 0) + 1 }), {});

  const header = (key: SortKey, label: string) => (
    <th scope="col" aria-sort={sort.key === key ? (sort.desc ? 'descending' : 'ascending') : 'none'}>
      <button type="button" class="sort" onClick={() => setSort({ key, desc: sort.key === key ? !sort.desc : false })}>
        {label}
      </button>
    </th>
  );

  return (
    <main id="main" class="page">
      <h1>Fleet</h1>
      <p class="lead">Every agent the controller knows, live. Rows that need attention are marked.</p>
      <ul class="counts" aria-label="Agents by state">
        {(['online', 'draining', 'offline', 'revoked'] as const).map((s) => (
          <li key={s}>
            <StateBadge state={s} /> <strong data-testid={`count-${s}`}>{counts[s] ?? 0}</strong>
          </li>
        ))}
      </ul>
      <div class="filters">
        <label>
          Filter <input type="search" value={filter} placeholder="id, host or label" onInput={(e) => setFilter(e.currentTarget.value)} />
        </label>
        <label>
          State
          <select value={stateFilter} onChange={(e) => setStateFilter(e.currentTarget.value)}>
            <option value="">any</option>
            <option value="online">online</option>
            <option value="draining">draining</option>
            <option value="offline">offline</option>
            <option value="revoked">revoked</option>
          </select>
        </label>
      </div>
      {error && <p role="alert" class="error">{error}</p>}
      <p role="status" class="note" data-testid="fleet-note">
        {note}
      </p>
      {!agents && !error && <p>Loading…</p>}
      {agents && agents.length === 0 && <p>No agent has registered yet. Start one with <code>httpagent agent</code>.</p>}
      {agents && agents.length > 0 && (
        <div class="table-wrap">
          <table class="fleet">
            <caption class="sr-only">Agents</caption>
            <thead>
              <tr>
                {header('id', 'Agent')}
                {header('state', 'State')}
                <th scope="col">Labels</th>
                <th scope="col">Version</th>
                {header('running', 'Running')}
                <th scope="col">Monitor</th>
                {header('cpu', 'CPU')}
                {header('memory', 'Memory')}
                {header('disk', 'Disk')}
                {header('seen', 'Last seen')}
                {canAct && <th scope="col">Actions</th>}
              </tr>
            </thead>
            <tbody>
              {rows.map((a) => {
                const why = trouble(a, now);
                const s = sparks[a.id];
                return (
                  <tr key={a.id} class={why ? 'attention' : ''} data-agent-id={a.id} data-state={a.state}>
                    <th scope="row">
                      <a href={hrefHost(a.id)}>{a.id}</a>
                      {a.hostname !== a.id && <div class="muted small">{a.hostname}</div>}
                      {why && <div class="why">⚠ {why}</div>}
                    </th>
                    <td>
                      <StateBadge state={a.state} />
                    </td>
                    <td class="labels">
                      {Object.entries(a.labels).map(([k, v]) => (
                        <span key={k} class="label">
                          {k}={v}
                        </span>
                      ))}
                    </td>
                    <td>
                      {a.version}
                      {a.commit && <div class="muted small mono">{a.commit.slice(0, 8)}</div>}
                    </td>
                    <td>
                      {a.running}/{a.capacity}
                      <Meter value={(a.running / Math.max(1, a.capacity)) * 100} label={`${a.id} slots in use`} />
                    </td>
                    <td>
                      {a.monitor}
                      <div class="muted small">{ago(a.monitorSeenAt, now)}</div>
                    </td>
                    <td>
                      <Sparkline values={s?.cpu ?? []} label={`${a.id} CPU`} />
                    </td>
                    <td>
                      <Sparkline values={s?.memory ?? []} label={`${a.id} memory`} />
                    </td>
                    <td>
                      <Sparkline values={s?.disk ?? []} label={`${a.id} fullest filesystem`} />
                    </td>
                    <td>{ago(a.lastSeenAt, now)}</td>
                    {canAct && (
                      <td class="row-actions">
                        {a.state === 'revoked' ? null : confirming === a.id ? (
                          <>
                            <button type="button" class="danger" onClick={() => void revoke(a.id)}>
                              Revoke {a.id}
                            </button>
                            <button type="button" onClick={() => setConfirming(undefined)}>
                              Keep
                            </button>
                          </>
                        ) : (
                          <>
                            {a.state === 'online' && (
                              <button type="button" aria-label={`Drain ${a.id}`} onClick={() => void drain(a.id, true)}>
                                Drain
                              </button>
                            )}
                            {a.state === 'draining' && (
                              <button type="button" aria-label={`Resume ${a.id}`} onClick={() => void drain(a.id, false)}>
                                Resume
                              </button>
                            )}
                            <button type="button" aria-label={`Remove ${a.id} (revoke its credential)`} onClick={() => setConfirming(a.id)}>
                              Remove (revoke)
                            </button>
                          </>
                        )}
                      </td>
                    )}
                  </tr>
                );
              })}
            </tbody>
          </table>
        </div>
      )}
      <p class="muted small">
        Removing an agent revokes its credential at once: its calls are refused from then on and the jobs it held go back to their queues. To
        bring the host back, enroll it again. A drained agent finishes the jobs it holds and takes no new one until it is resumed (SIGTERM
        drains it too, then stops it).
      </p>
    </main>
  );
}
