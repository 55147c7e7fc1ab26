// Job: its steps on a timeline (state, exit code, duration), its attempt and agent, cancel and retry,
// and the log followed live. Job and step events make it read the job again.
import { useState } from 'preact/hooks';
import { ApiError, getJson, postJson, type JobView } from '../api.js';
import { StateBadge } from '../components/badges.js';
import { LogView } from '../components/log-view.js';
import { ago, duration, span, time } from '../format.js';
import { useLive, useNow } from '../hooks.js';
import { hrefHost, hrefJob } from '../router.js';
import { useCanAct } from '../session.js';

const FINAL = ['succeeded', 'failed', 'cancelled'];

export function JobPage({ id }: { id: string }) {
  const canAct = useCanAct();
  const now = useNow();
  const [note, setNote] = useState('');
  const { data: job, error } = useLive(() => getJson<JobView>(`/v1/jobs/${encodeURIComponent(id)}`), [id], (e) => (e.type === 'job' || e.type === 'step') && e.id === id, 100);

  if (error) {
    return (
      <main id="main" class="page">
        <h1>Job {id}</h1>
        <p role="alert" class="error">{error}</p>
      </main>
    );
  }
  if (!job) {
    return (
      <main id="main" class="page">
        <h1>Job {id}</h1>
        <p>Loading…</p>
      </main>
    );
  }

  const final = FINAL.includes(job.state);
  const act = async (what: 'cancel' | 'retry') => {
    try {
      const r = await postJson<{ id: string; state: string; cancelRequested?: boolean }>(`/v1/jobs/${id}/${what}`);
      if (what === 'retry') location.hash = hrefJob(r.id);
      else setNote(r.cancelRequested ? 'Cancel requested: the agent stops the job at its next call.' : `Job is ${r.state}.`);
    } catch (err) {
      setNote(err instanceof ApiError ? err.message : String(err));
    }
  };

  // The timeline: each step's bar from its start to its end, on the job's own time axis.
  const t0 = job.startedAt ? Date.parse(job.startedAt) : Date.parse(job.createdAt);
  const t1 = Math.max(t0 + 1, job.finishedAt ? Date.parse(job.finishedAt) : now, ...job.steps.map((s) => (s.finishedAt ? Date.parse(s.finishedAt) : 0)));
  const pos = (iso: string | null, fallback: number) => ((((iso ? Date.parse(iso) : fallback) - t0) / (t1 - t0)) * 100).toFixed(2);

  return (
    <main id="main" class="page">
      <p class="crumbs">
        <a href="#/jobs">Jobs</a> / <span class="mono">{id}</span>
      </p>
      <h1>
        Job <span class="mono">{id}</span> <StateBadge state={job.state} />
      </h1>
      <div class="actions">
        {canAct && !final && (
          <button type="button" class="danger" onClick={() => void act('cancel')} disabled={job.cancelRequested}>
            {job.cancelRequested ? 'Cancel requested' : 'Cancel job'}
          </button>
        )}
        {canAct && final && (
          <button type="button" onClick={() => void act('retry')}>
            Retry as a new job
          </button>
        )}
        <span role="status">{note}</span>
      </div>
      <dl class="facts">
        <dt>Target</dt>
        <dd>
          {job.target.agent ? <a href={hrefHost(job.target.agent)}>agent {job.target.agent}</a> : job.target.labels ? Object.entries(job.target.labels).map(([k, v]) => `${k}=${v}`).join(', ') : 'any agent'}
        </dd>
        <dt>Attempt</dt>
        <dd>
          {job.attempt} of {job.maxAttempts}
          {job.agent && (
            <>
              {' '}
              on <a href={hrefHost(job.agent)}>{job.agent}</a>
            </>
          )}
        </dd>
        <dt>Created</dt>
        <dd>
          {time(job.createdAt)} ({ago(job.createdAt, now)})
        </dd>
        <dt>Started</dt>
        <dd>{time(job.startedAt)}</dd>
        <dt>Finished</dt>
        <dd>{time(job.finishedAt)}</dd>
        <dt>Took</dt>
        <dd>{duration(span(job.startedAt, job.finishedAt, now))}</dd>
        <dt>Priority</dt>
        <dd>{job.priority}</dd>
        {job.error && (
          <>
            <dt>Error</dt>
            <dd class="error">{job.error}</dd>
          </>
        )}
      </dl>

      <h2>Steps</h2>
      <ol class="steps">
        {job.steps.map((s, i) => (
          <li key={i} class={`step s-${s.state}`} data-step-state={s.state}>
            <div class="step-head">
              <span class="step-n">{i + 1}</span> <strong>{s.task}</strong> <StateBadge state={s.state} />
              <span class="muted small">
                {s.exitCode !== null ? `exit ${s.exitCode}` : s.signal ? `signal ${s.signal}` : ''} {s.startedAt ? duration(span(s.startedAt, s.finishedAt, now)) : ''}
              </span>
            </div>
            <div class="timeline" aria-hidden="true">
              {s.startedAt && (
                <span
                  class={`bar s-${s.state}`}
                  style={{ left: `${pos(s.startedAt, t0)}%`, width: `${Math.max(0.5, Number(pos(s.finishedAt, now)) - Number(pos(s.startedAt, t0)))}%` }}
                />
              )}
            </div>
          </li>
        ))}
      </ol>
      {job.attempt > 1 && <p class="muted small">Earlier attempts are in the log, each after a "--- httpagent: attempt N on agent X ---" line.</p>}

      <h2>Log</h2>
      {job.logTruncated && <p class="muted">The log passed the controller's per-job cap; later bytes were counted but not kept.</p>}
      <LogView jobId={id} final={final} logBytes={job.logBytes} />
    </main>
  );
}
