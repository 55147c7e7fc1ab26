// Work that keeps arriving through a self-update: a one-second job for one agent every 1.5 s, so the
// idle-mode switch has idle moments to take. It never rejects (the controller stays up for the whole
// test): a failed submit is recorded for the test to assert on, not an unhandled rejection after afterAll.
import { call } from './controller-harness.js';
import { waitUntil } from '../helpers/wait.js';

const FINAL = ['succeeded', 'failed', 'cancelled'];

export interface JobFeeder {
  /** Ids of the jobs submitted so far, in order. */
  readonly ids: string[];
  /** Submits that failed: `HTTP <status>` or the error's code. */
  readonly submitErrors: string[];
  /** Stops submitting; resolves once the last submit has returned. */
  stop(): Promise<void>;
  /** Waits until every job submitted is in a final state; answers the states in submit order. */
  allFinal(explain: () => string): Promise<string[]>;
}

export function startJobFeeder(url: string, agentId: string, task = 'work'): JobFeeder {
  const ids: string[] = [];
  const submitErrors: string[] = [];
  let feeding = true;
  const state = async (id: string) => (await call(url, 'GET', `/v1/jobs/${id}`)).body.state as string;
  const loop = (async () => {
    while (feeding) {
      try {
        const r = await call(url, 'POST', '/v1/jobs', { body: { task, agent: agentId } });
        if (r.status < 300) ids.push((r.body as { id: string }).id);
        else submitErrors.push(`HTTP ${r.status}`);
      } catch (err) {
        submitErrors.push(String((err as { code?: string }).code ?? err));
      }
      await new Promise((res) => setTimeout(res, 1500));
    }
  })();
  return {
    ids,
    submitErrors,
    async stop() {
      feeding = false;
      await loop;
    },
    async allFinal(explain) {
      await waitUntil(
        'every job final',
        async () => {
          for (const id of ids) if (!FINAL.includes(await state(id))) return false;
          return true;
        },
        { timeoutMs: 90_000, explain },
      );
      return Promise.all(ids.map(state));
    },
  };
}
