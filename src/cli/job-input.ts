// What `job submit` was asked to queue, from its arguments: TASK with --param, repeated --step, or
// --file holding the whole job (YAML or JSON), with --agent/--label/--priority... on top. The result
// is checked with the same schema the controller validates with, so mistakes are caught before sending.
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { UsageError } from '../shared/errors.js';
import { jobSubmitSchema, type JobSubmit } from '../shared/protocol/job.js';

/** `k=v` → [k, v]; the value may hold any character, `=` included. */
export function splitPair(s: string, what: string): [string, string] {
  const eq = s.indexOf('=');
  if (eq <= 0) throw new UsageError(`${what} must look like key=value, got "${s}"`);
  return [s.slice(0, eq), s.slice(eq + 1)];
}

/**
 * `--step init:dir=/srv/app,mode=755` → { task, params }. Params split on a comma only where a new
 * `name=` follows, so `message=a,b` keeps its comma; anything harder belongs in --file.
 */
export function parseStep(s: string): { task: string; params?: Record<string, string> } {
  const colon = s.indexOf(':');
  const task = colon < 0 ? s : s.slice(0, colon);
  if (!task) throw new UsageError(`--step must look like TASK or TASK:k=v,k=v, got "${s}"`);
  const rest = colon < 0 ? '' : s.slice(colon + 1);
  if (!rest) return { task };
  const params = Object.fromEntries(rest.split(/,(?=[A-Za-z_][A-Za-z0-9_.-]*=)/).map((p) => splitPair(p, `--step ${task}: each param`)));
  return { task, params };
}

export interface SubmitArgs {
  task?: string | undefined;
  param: string[];
  step: string[];
  file?: string | undefined;
  agent?: string | undefined;
  label: string[];
  priority?: number | undefined;
  timeout?: number | undefined;
  maxAttempts?: number | undefined;
  idempotencyKey?: string | undefined;
}

function readJobFile(file: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new UsageError(`cannot read ${file}: ${(err as Error).message}`);
  }
  let data: unknown;
  try {
    data = file.endsWith('.json') ? JSON.parse(text) : parseYaml(text);
  } catch (err) {
    throw new UsageError(`${file} is not valid ${file.endsWith('.json') ? 'JSON' : 'YAML'}: ${(err as Error).message.split('\n')[0]}`);
  }
  if (typeof data !== 'object' || data === null || Array.isArray(data)) throw new UsageError(`${file} must hold one job: a mapping with "task" or "steps"`);
  return data as Record<string, unknown>;
}

/** The job to submit, validated; a UsageError names the first problem. */
export function buildJob(a: SubmitArgs): JobSubmit {
  const forms = [a.task !== undefined, a.step.length > 0, a.file !== undefined].filter(Boolean).length;
  if (forms === 0) throw new UsageError('give a TASK, --step TASK:k=v (repeatable) or --file JOB.yaml');
  if (forms > 1) throw new UsageError('give one of TASK, --step or --file');
  if (a.param.length && a.task === undefined) throw new UsageError('--param goes with TASK; with --step put params in the step (--step TASK:k=v,k=v), with --file in the file');
  if (a.agent && a.label.length) throw new UsageError('give --agent or --label, not both');

  let job: Record<string, unknown>;
  if (a.file !== undefined) job = readJobFile(a.file);
  else if (a.step.length) job = { steps: a.step.map(parseStep) };
  else {
    const params = Object.fromEntries(a.param.map((p) => splitPair(p, '--param')));
    job = { task: a.task, ...(a.param.length ? { params } : {}) };
  }
  const labels = Object.fromEntries(a.label.map((p) => splitPair(p, '--label')));
  // Options on the command line win over the same fields in a file.
  if (a.agent !== undefined) {
    job.agent = a.agent;
    delete job.labels;
  }
  if (a.label.length) {
    job.labels = labels;
    delete job.agent;
  }
  if (a.priority !== undefined) job.priority = a.priority;
  if (a.timeout !== undefined) job.timeoutSec = a.timeout;
  if (a.maxAttempts !== undefined) job.maxAttempts = a.maxAttempts;
  if (a.idempotencyKey !== undefined) job.idempotencyKey = a.idempotencyKey;

  // The two forms are told apart by `steps`, as the controller does, so the error names the right field.
  const [stepsForm, taskForm] = jobSubmitSchema.options;
  const parsed = ('steps' in job ? stepsForm : taskForm).safeParse(job);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const path = issue.path.join('.');
    const text = issue.code === 'unrecognized_keys' ? `unknown field "${issue.keys.join('", "')}"` : issue.message;
    throw new UsageError(`${a.file ?? 'job'}: ${path ? `${path}: ` : ''}${text}`);
  }
  return parsed.data;
}
