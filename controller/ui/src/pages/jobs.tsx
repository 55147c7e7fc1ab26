// Jobs: the live list with counts by state, filters and paging done by the controller (GET /v1/jobs),
// bulk cancel and retry, and a form to submit a job, checked with the API's own schema before it is sent.
import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { ApiError, getJson, listJobs, postJson, type DashboardEvent, type JobPage, type JobView, type Overview } from '../api.js';
import { StateBadge } from '../components/badges.js';
import { ago, duration, span } from '../format.js';
import { useLive, useNow } from '../hooks.js';
import { hrefJob } from '../router.js';
import { useCanAct } from '../session.js';
import { SubmitForm } from './submit-form.js';

const STATES = ['queued', 'running', 'succeeded', 'failed', 'cancelled'] as const;
const FILTERS = ['state', 'agent', 'label', 'task', 'q', 'since', 'until'] as const;
const PAGE_SIZE = 50;

/** Which rows a page shows; the total only where the controller counted (x-total-count). */
function pageInfo(page: JobPage, first: number): string {
  if (page.jobs.length === 0) return page.next ? 'None in this stretch: Older reads on.' : first === 1 ? 'No jobs match.' : 'No more jobs.';
  const rows = `${first}–${first + page.jobs.length - 1}`;
  return page.total === undefined ? rows : `${rows} of ${page.total.toLocaleString()}`;
}

type Draft = Record<(typeof FILTERS)[number], string>;

/** The filter form as a query says it (every field empty for none). */
function draftOf(query: URLSearchParams): Draft {
  return Object.fromEntries(FILTERS.map((f) => [f, query.get(f) ?? ''])) as Draft;
}

/** The filters of a query as one string: what the list and the form follow. */
function filtersOf(query: URLSearchParams): string {
  return FILTERS.map((f) => query.get(f) ?? '').join('|');
}

function navigate(query: URLSearchParams): void {
  const qs = query.toString();
  location.hash = `#/jobs${qs ? `?${qs}` : ''}`;
}

/** A job event on the listed page: the job's row takes its state (a job not listed changes nothing). */
function applyJobEvent(p: JobPage, e: DashboardEvent): JobPage {
  if (e.type !== 'job' || !p.jobs.some((j) => j.id === e.id)) return p;
  const patch = (j: JobView): JobView =>
    j.id === e.id
      ? {
          ...j,
          state: e.state,
          ...(e.agent ? { agent: e.agent } : {}),
          ...(e.attempt !== undefined ? { attempt: e.attempt } : {}),
          ...(e.cancelRequested ? { cancelRequested: true } : {}),
          ...(e.state === 'running' && !j.startedAt ? { startedAt: new Date().toISOString() } : {}),
          ...(['succeeded', 'failed', 'cancelled'].includes(e.state) && !j.finishedAt ? { finishedAt: new Date().toISOString() } : {}),
        }
      : j;
  return { ...p, jobs: p.jobs.map(patch) };
}

export function JobsPage({ query }: { query: URLSearchParams }) {
  const canAct = useCanAct();
  const now = useNow();
  // The pages read so far, each with how many jobs the pages before it showed: a page can be short (the
  // controller examines a bounded stretch of jobs a request when filters combine), so counting by
  // PAGE_SIZE would number rows wrongly.
  const [cursors, setCursors] = useState<{ cursor: string; before: number }[]>([]);
  const [selected, setSelected] = useState<Set<string>>(new Set());
  const [note, setNote] = useState('');
  const [draft, setDraft] = useState(() => draftOf(query));
  const filterKey = filtersOf(query);
  const cursor = cursors[cursors.length - 1]?.cursor;
  // The filters the form already shows. The hash changes a moment after Apply or Clear navigates: by
  // then the user may be typing the next filter, which reloading the form from the URL would wipe out.
  const formShows = useRef(filterKey);

  useEffect(() => {
    setCursors([]);
    if (formShows.current !== filterKey) setDraft(draftOf(query));
    formShows.current = filterKey;
  }, [filterKey]);

  // From the event, not from this render's draft: Clear may have emptied the form since (it renders later).
  const field = (f: (typeof FILTERS)[number]) => (e: { currentTarget: { value: string } }) => {
    const v = e.currentTarget.value;
    setDraft((d) => ({ ...d, [f]: v }));
  };

  /** Navigates to `q`, the form already showing `shown` (the URL's filters will not overwrite it). */
  const go = (q: URLSearchParams, shown: Draft) => {
    setDraft(shown);
    formShows.current = filtersOf(q);
    navigate(q);
  };

  const { data: counts } = useLive(() => getJson<Overview>('/v1/overview?minutes=0'), [], (e) => e.type === 'job', 500);
  // A new job matters only on the first page; job events change listed rows at once (no reload).
  const { data: page, error } = useLive<JobPage>(
    () => {
      const q = new URLSearchParams();
      for (const f of FILTERS) if (query.get(f)) q.set(f, query.get(f)!);
      // The time inputs are local wall-clock times: sent as epoch ms, so the controller's zone does not matter.
      for (const f of ['since', 'until'] as const) if (q.get(f)) q.set(f, String(new Date(q.get(f)!).getTime()));
      q.set('limit', String(PAGE_SIZE));
      if (cursor) q.set('cursor', cursor);
      return listJobs(q);
    },
    [filterKey, cursor],
    (e) => e.type === 'job' && e.state === 'queued' && !cursor,
    300,
    applyJobEvent,
  );

  const apply = (e: Event) => {
    e.preventDefault();
    const q = new URLSearchParams();
    for (const f of FILTERS) if (draft[f].trim()) q.set(f, draft[f].trim());
    go(q, draft);
  };

  const toggleState = (s: string) => {
    const q = new URLSearchParams(query);
    if (q.get('state') === s) q.delete('state');
    else q.set('state', s);
    navigate(q);
  };

  const bulk = async (action: 'cancel' | 'retry') => {
    const ids = [...selected];
    let ok = 0;
    const failed: string[] = [];
    for (const id of ids) {
      try {
        await postJson(`/v1/jobs/${id}/${action}`);
        ok++;
      } catch (err) {
        failed.push(`${id}: ${err instanceof ApiError ? err.message : String(err)}`);
      }
    }
    setSelected(new Set());
    setNote(`${action === 'cancel' ? 'Cancelled' : 'Retried'} ${ok} of ${ids.length}.${failed.length ? ` ${failed.join('; ')}` : ''}`);
  };

  const jobs = page?.jobs ?? [];
  const allSelected = jobs.length > 0 && jobs.every((j) => selected.has(j.id));
  const first = (cursors[cursors.length - 1]?.before ?? 0) + 1;

  const stateCounts = useMemo(() => counts?.counts, [counts]);

  return (
    <main id="main" class="page">
      <h1>Jobs</h1>
      <p class="lead">Every job the controller holds, newest first. States change here as they happen.</p>
      <ul class="counts" aria-label="Jobs by state">
        {STATES.map((s) => (
          <li key={s}>
            <button type="button" class="count-button" aria-pressed={query.get('state') === s} onClick={() => toggleState(s)}>
              <StateBadge state={s} /> <strong data-testid={`count-${s}`}>{stateCounts?.[s] ?? '…'}</strong>
            </button>
          </li>
        ))}
      </ul>

      {canAct && <SubmitForm />}

      <form class="filters" onSubmit={apply} aria-label="Filter jobs">
        <label>
          State
          <select value={draft.state} onChange={field('state')}>
            <option value="">any</option>
            {STATES.map((s) => (
              <option key={s} value={s}>
                {s}
              </option>
            ))}
          </select>
        </label>
        <label>
          Agent <input value={draft.agent} onInput={field('agent')} />
        </label>
        <label>
          Label <input value={draft.label} placeholder="k=v" onInput={field('label')} />
        </label>
        <label>
          Task <input value={draft.task} onInput={field('task')} />
        </label>
        <label>
          Id contains <input value={draft.q} onInput={field('q')} />
        </label>
        <label>
          Since <input type="datetime-local" value={draft.since} onInput={field('since')} />
        </label>
        <label>
          Until <input type="datetime-local" value={draft.until} onInput={field('until')} />
        </label>
        <button type="submit">Apply filters</button>
        <button type="button" onClick={() => go(new URLSearchParams(), draftOf(new URLSearchParams()))}>
          Clear
        </button>
      </form>

      {error && <p role="alert" class="error">{error}</p>}
      <div class="list-head">
        <span data-testid="page-info">
          {page ? pageInfo(page, first) : 'Loading…'}
        </span>
        <span class="pager">
          <button type="button" disabled={cursors.length === 0} onClick={() => setCursors(cursors.slice(0, -1))}>
            Newer
          </button>
          <button type="button" disabled={!page?.next} onClick={() => page?.next && setCursors([...cursors, { cursor: page.next, before: first - 1 + jobs.length }])}>
            Older
          </button>
        </span>
        {canAct && (
          <span class="bulk">
            <button type="button" disabled={selected.size === 0} onClick={() => void bulk('cancel')}>
              Cancel selected
            </button>
            <button type="button" disabled={selected.size === 0} onClick={() => void bulk('retry')}>
              Retry selected
            </button>
          </span>
        )}
        <span role="status" class="muted">
          {note}
        </span>
      </div>
      <div class="table-wrap">
        <table class="jobs">
          <caption class="sr-only">Jobs</caption>
          <thead>
            <tr>
              {canAct && (
                <th scope="col">
                  <input
                    type="checkbox"
                    aria-label="Select every job on this page"
                    checked={allSelected}
                    onChange={() => setSelected(allSelected ? new Set() : new Set(jobs.map((j) => j.id)))}
                  />
                </th>
              )}
              <th scope="col">Job</th>
              <th scope="col">State</th>
              <th scope="col">Task</th>
              <th scope="col">Target</th>
              <th scope="col">Agent</th>
              <th scope="col">Attempt</th>
              <th scope="col">Created</th>
              <th scope="col">Took</th>
            </tr>
          </thead>
          <tbody>
            {jobs.map((j) => (
              <tr key={j.id} data-job-id={j.id} data-state={j.state}>
                {canAct && (
                  <td>
                    <input
                      type="checkbox"
                      aria-label={`Select job ${j.id}`}
                      checked={selected.has(j.id)}
                      onChange={() => {
                        const next = new Set(selected);
                        if (next.has(j.id)) next.delete(j.id);
                        else next.add(j.id);
                        setSelected(next);
                      }}
                    />
                  </td>
                )}
                <td class="mono">
                  <a href={hrefJob(j.id)}>{j.id}</a>
                </td>
                <td>
                  <StateBadge state={j.state} />
                  {j.cancelRequested && j.state === 'running' && <span class="muted small"> cancelling</span>}
                </td>
                <td>{j.steps.map((s) => s.task).join(' → ')}</td>
                <td class="small">
                  {j.target.agent ? `agent ${j.target.agent}` : j.target.labels && Object.keys(j.target.labels).length ? Object.entries(j.target.labels).map(([k, v]) => `${k}=${v}`).join(', ') : 'any'}
                </td>
                <td>{j.agent ?? '—'}</td>
                <td>
                  {j.attempt}/{j.maxAttempts}
                </td>
                <td title={j.createdAt}>{ago(j.createdAt, now)}</td>
                <td>{duration(span(j.startedAt, j.finishedAt, now))}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </main>
  );
}
