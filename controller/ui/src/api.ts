// The dashboard's calls to the controller: same origin, the session cookie, and on every call that
// changes something the session's CSRF token in x-csrf-token (the cookie alone is refused).
import type { DashboardEvent } from '../../../src/shared/protocol/events.js';
import type { JobView } from '../../../src/shared/protocol/job.js';
import type { Overview } from '../../../src/shared/protocol/overview.js';
import type { AgentView } from '../../../src/shared/protocol/platform-api.js';

export type { AgentView, DashboardEvent, JobView, Overview };

export interface Session {
  role: 'admin' | 'viewer';
  csrf: string;
  expiresAt: string;
}

/** An error reply of the API: {"error":{"code","message"}}. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly issues: { path: string; message: string }[] = [],
  ) {
    super(message);
  }
}

let csrf = '';
/** Called when any call answers 401: the session expired or was signed out elsewhere. */
let onUnauthorized: () => void = () => {};

export function setSession(s: Session | undefined, unauthorized?: () => void): void {
  csrf = s?.csrf ?? '';
  if (unauthorized) onUnauthorized = unauthorized;
}

async function fail(res: Response): Promise<never> {
  let body: { error?: { code?: string; message?: string; issues?: { path: string; message: string }[] } } = {};
  try {
    body = (await res.json()) as typeof body;
  } catch {
    // Not JSON (a proxy's page): the status says enough.
  }
  if (res.status === 401) onUnauthorized();
  throw new ApiError(res.status, body.error?.code ?? 'HTTP_' + res.status, body.error?.message ?? res.statusText, body.error?.issues ?? []);
}

export async function call(method: string, path: string, body?: unknown): Promise<Response> {
  const headers: Record<string, string> = { accept: 'application/json' };
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (method !== 'GET' && method !== 'HEAD') headers['x-csrf-token'] = csrf;
  const res = await fetch(path, { method, headers, credentials: 'same-origin', ...(body !== undefined ? { body: JSON.stringify(body) } : {}) });
  if (!res.ok) await fail(res);
  return res;
}

export const getJson = async <T>(path: string): Promise<T> => (await (await call('GET', path)).json()) as T;
export const postJson = async <T>(path: string, body?: unknown): Promise<T> => (await (await call('POST', path, body ?? {})).json()) as T;

export async function signIn(token: string): Promise<Session> {
  const res = await fetch('/auth/session', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ token }) });
  if (!res.ok) await fail(res);
  return (await res.json()) as Session;
}

export async function currentSession(): Promise<Session | undefined> {
  const res = await fetch('/auth/session', { credentials: 'same-origin' });
  return res.ok ? ((await res.json()) as Session) : undefined;
}

export async function signOut(): Promise<void> {
  await fetch('/auth/session', { method: 'DELETE', headers: { 'x-csrf-token': csrf }, credentials: 'same-origin' });
}

export interface JobPage {
  jobs: JobView[];
  next: string | undefined;
  /** Absent where the controller does not count (an id search, several filters together). */
  total: number | undefined;
}

export async function listJobs(query: URLSearchParams): Promise<JobPage> {
  const res = await call('GET', `/v1/jobs?${query}`);
  const total = res.headers.get('x-total-count');
  return { jobs: (await res.json()) as JobView[], next: res.headers.get('x-next-cursor') ?? undefined, total: total === null ? undefined : Number(total) };
}
