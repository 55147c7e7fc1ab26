// Submitting a job: a task, its params (one name=value a line), and optionally an agent, labels and a
// priority. Checked with the API's own schema (src/shared/protocol/job.ts) so mistakes show beside the
// field before anything is sent; the API's answer is shown the same way.
import { useState } from 'preact/hooks';
import { jobSubmitSchema } from '../../../../src/shared/protocol/job.js';
import { ApiError, postJson } from '../api.js';
import { hrefJob } from '../router.js';

interface Problem {
  field: string;
  message: string;
}

function parseLines(text: string, what: string): Record<string, string> | Problem {
  const out: Record<string, string> = {};
  for (const [i, raw] of text.split('\n').entries()) {
    const line = raw.trim();
    if (!line) continue;
    const eq = line.indexOf('=');
    if (eq <= 0) return { field: what, message: `line ${i + 1}: expected name=value` };
    out[line.slice(0, eq).trim()] = line.slice(eq + 1);
  }
  return out;
}

export function SubmitForm() {
  const [task, setTask] = useState('');
  const [params, setParams] = useState('');
  const [agent, setAgent] = useState('');
  const [labels, setLabels] = useState('');
  const [priority, setPriority] = useState('0');
  const [problems, setProblems] = useState<Problem[]>([]);
  const [busy, setBusy] = useState(false);

  const submit = async (e: Event) => {
    e.preventDefault();
    const p = parseLines(params, 'params');
    const l = parseLines(labels.split(',').join('\n'), 'labels');
    if ('field' in p || 'field' in l) {
      setProblems([p, l].filter((x): x is Problem => 'field' in x));
      return;
    }
    const body = {
      task: task.trim(),
      ...(Object.keys(p).length ? { params: p } : {}),
      ...(agent.trim() ? { agent: agent.trim() } : {}),
      ...(Object.keys(l).length ? { labels: l } : {}),
      priority: Number(priority),
    };
    const checked = jobSubmitSchema.safeParse(body);
    if (!checked.success) {
      setProblems(checked.error.issues.map((i) => ({ field: String(i.path[0] ?? 'task'), message: i.message })));
      return;
    }
    setBusy(true);
    try {
      const r = await postJson<{ id: string }>('/v1/jobs', body);
      setProblems([]);
      location.hash = hrefJob(r.id);
    } catch (err) {
      if (err instanceof ApiError) setProblems(err.issues.length ? err.issues.map((i) => ({ field: i.path.split('.')[0] ?? 'task', message: i.message })) : [{ field: 'task', message: err.message }]);
      else setProblems([{ field: 'task', message: String(err) }]);
    } finally {
      setBusy(false);
    }
  };

  const problem = (field: string) => problems.find((p) => p.field === field)?.message;
  const describe = (field: string) => (problem(field) ? { 'aria-invalid': true, 'aria-describedby': `err-${field}` } : {});
  const err = (field: string) =>
    problem(field) && (
      <span id={`err-${field}`} class="field-error">
        {problem(field)}
      </span>
    );

  return (
    <details class="submit">
      <summary>Submit a job</summary>
      <form onSubmit={submit} aria-label="Submit a job" noValidate>
        <div class="field">
          <label for="submit-task">Task</label>
          <input id="submit-task" value={task} required placeholder="noop" onInput={(e) => setTask(e.currentTarget.value)} {...describe('task')} />
          {err('task')}
        </div>
        <div class="field">
          <label for="submit-params">Params, one name=value a line</label>
          <textarea id="submit-params" rows={3} value={params} onInput={(e) => setParams(e.currentTarget.value)} {...describe('params')} />
          {err('params')}
        </div>
        <div class="field">
          <label for="submit-agent">Agent (optional)</label>
          <input id="submit-agent" value={agent} onInput={(e) => setAgent(e.currentTarget.value)} {...describe('agent')} />
          {err('agent')}
        </div>
        <div class="field">
          <label for="submit-labels">Labels (optional, k=v,k=v)</label>
          <input id="submit-labels" value={labels} onInput={(e) => setLabels(e.currentTarget.value)} {...describe('labels')} />
          {err('labels')}
        </div>
        <div class="field">
          <label for="submit-priority">Priority (-100 to 100)</label>
          <input id="submit-priority" type="number" min={-100} max={100} value={priority} onInput={(e) => setPriority(e.currentTarget.value)} {...describe('priority')} />
          {err('priority')}
        </div>
        <button type="submit" disabled={busy}>
          Submit job
        </button>
      </form>
    </details>
  );
}
