// What the dashboard reads from a real controller process: the event stream (in order, resumed with
// Last-Event-ID after a disconnect), GET /v1/jobs paged and filtered through the job indexes, the
// overview's counters, and sessions (cookie, CSRF, viewer) without a browser.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startJobSystem, PLATFORM_TOKEN, type JobSystem } from '../helpers/job-system.js';

const VIEWER = 'test-viewer-token-0123456789';
let sys: JobSystem;

beforeAll(async () => {
  sys = await startJobSystem({ controllerEnv: { HTTPAGENT_VIEWER_TOKEN: VIEWER } });
}, 120_000);

afterAll(async () => {
  await sys?.stop();
});

/**
 * Reads SSE messages from GET /v1/events until `enough` says stop; returns them with their ids, and the
 * last id the stream gave (an id alone, with no data, counts: the browser keeps it for Last-Event-ID).
 * `enough` is asked again when `onOpen` settles: an event can arrive before the id it is looked for by
 * is known, and the stream may then stay quiet until its next keepalive. A stream that has not given
 * enough within `waitMs` fails with what it did give, instead of running into the test's timeout.
 */
async function readEvents(opts: {
  lastEventId?: string;
  enough: (got: { id: string; data: any }[], lastId: string) => boolean;
  onOpen?: () => Promise<void>;
  waitMs?: number;
}) {
  const ac = new AbortController();
  const res = await fetch(`${sys.controllerUrl}/v1/events`, {
    headers: { authorization: `Bearer ${PLATFORM_TOKEN}`, ...(opts.lastEventId ? { 'last-event-id': opts.lastEventId } : {}) },
    signal: ac.signal,
  });
  expect(res.headers.get('content-type')).toMatch(/text\/event-stream/);
  const reader = res.body!.getReader();
  const got: { id: string; data: any }[] = [];
  let lastId = '';
  let buf = '';
  let openSettled = !opts.onOpen;
  const opened = opts.onOpen?.().finally(() => (openSettled = true));
  const waitMs = opts.waitMs ?? 30_000;
  let timer: NodeJS.Timeout | undefined;
  const gaveUp = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      const seen = got.map((e) => `${e.id} ${e.data.type}${e.data.id ? ` ${e.data.id} ${e.data.state}` : ''}`).join('; ');
      reject(new Error(`the event stream did not give enough in ${waitMs} ms (onOpen ${openSettled ? 'settled' : 'pending'}, last id ${lastId || 'none'}); it gave: ${seen || 'nothing'}`));
    }, waitMs);
  });
  // The first wake-up of the loop below that is not a chunk: onOpen settling (once).
  let openWake: Promise<'opened'> | undefined = opened?.then(
    () => 'opened' as const,
    () => 'opened' as const,
  );
  let read: ReturnType<typeof reader.read> | undefined;
  try {
    while (!opts.enough(got, lastId)) {
      read ??= reader.read();
      const next = await Promise.race([read, gaveUp, ...(openWake ? [openWake] : [])]);
      if (next === 'opened') {
        openWake = undefined;
        continue;
      }
      read = undefined;
      const { value, done } = next;
      if (done) break;
      buf += Buffer.from(value).toString();
      let end: number;
      while ((end = buf.indexOf('\n\n')) >= 0) {
        const block = buf.slice(0, end);
        buf = buf.slice(end + 2);
        const id = /^id: (.*)$/m.exec(block)?.[1];
        const data = /^data: (.*)$/m.exec(block)?.[1];
        if (id !== undefined) lastId = id;
        if (data) got.push({ id: id ?? '', data: JSON.parse(data) });
      }
    }
  } finally {
    clearTimeout(timer);
    gaveUp.catch(() => undefined);
    ac.abort();
    read?.catch(() => undefined);
    // A submit that never answered is what the timeout's message names; waiting on it would hide that.
    if (openSettled) await opened;
    else opened?.catch(() => undefined);
  }
  return Object.assign(got, { lastId });
}

describe('GET /v1/events', () => {
  it('announces job changes as they commit, and resumes after a disconnect from Last-Event-ID', async () => {
    let first = '';
    const seen = await readEvents({
      onOpen: async () => {
        // Submitted the moment the stream is open (its headers came): the controller fixed its start
        // before answering, so this job's event is sent however soon it commits.
        first = await sys.submit({ task: 'say', agent: 'nobody-1' });
      },
      enough: (got) => got.some((e) => e.data.type === 'job' && e.data.id === first),
    });
    const mine = seen.find((e) => e.data.id === first)!;
    expect(mine.data).toMatchObject({ type: 'job', state: 'queued' });

    // While nobody listens: a cancel and a new job.
    await sys.platform('POST', `/v1/jobs/${first}/cancel`);
    const second = await sys.submit({ task: 'say', agent: 'nobody-1' });
    const missed = await readEvents({ lastEventId: mine.id, enough: (got) => got.some((e) => e.data.id === second) });
    expect(missed.map((e) => [e.data.id, e.data.state])).toEqual([
      [first, 'cancelled'],
      [second, 'queued'],
    ]);
    // Ids only grow.
    expect([...missed.map((e) => e.id)].sort()).toEqual(missed.map((e) => e.id));
  });

  it('says reset when events after the id given were trimmed from the capped stream', async () => {
    let early = '';
    let mark = '';
    await readEvents({
      onOpen: async () => {
        mark = await sys.submit({ task: 'say', agent: 'nobody-2' });
      },
      enough: (g) => g.some((e) => e.data.id === mark && (early = e.id)),
    });
    // More than the stream keeps (about 10,000): batches of 100 are announced job by job.
    for (let i = 0; i < 110; i++) {
      await sys.platform('POST', '/v1/jobs', Array.from({ length: 100 }, () => ({ task: 'say', agent: 'nobody-2' })));
    }
    const got = await readEvents({ lastEventId: early, enough: (g) => g.length > 0 });
    expect(got[0]!.data).toEqual({ type: 'reset' });
    // The reset says where the stream goes on from: resuming from there is no reset again.
    expect(got[0]!.id).toMatch(/^\d+-\d+$/);
    let next = '';
    const again = await readEvents({
      lastEventId: got[0]!.id,
      onOpen: async () => {
        next = await sys.submit({ task: 'say', agent: 'nobody-2' });
      },
      enough: (g) => g.some((e) => e.data.id === next),
    });
    expect(again.filter((e) => e.data.type === 'reset')).toEqual([]);
  });

  it('gives a new stream its start as an id, so a stream that carried no event resumes from there (a quiet page missed changes)', async () => {
    // Open and close a stream before anything happens on it: all the browser keeps is that first id.
    const quiet = await readEvents({ enough: (_g, lastId) => lastId !== '' });
    expect(quiet.length).toBe(0);
    // While it is reconnecting:
    const id = await sys.submit({ task: 'say', agent: 'nobody-3' });
    const resumed = await readEvents({ lastEventId: quiet.lastId, enough: (g) => g.some((e) => e.data.id === id) });
    expect(resumed.find((e) => e.data.id === id)!.data).toMatchObject({ type: 'job', state: 'queued' });
  });
});

describe('agent events', () => {
  it("announce an agent registering and its revocation (the fleet page's remove)", async () => {
    let agent: Awaited<ReturnType<JobSystem['startAgent']>> | undefined;
    const online = await readEvents({
      // Started once the stream is open: its registration comes after the connection's start.
      onOpen: async () => {
        agent = await sys.startAgent('evt-1');
      },
      enough: (got) => got.some((e) => e.data.type === 'agent' && e.data.id === 'evt-1'),
    });
    expect(online.find((e) => e.data.id === 'evt-1')!.data).toMatchObject({ type: 'agent', state: 'online' });
    const mark = online.at(-1)!.id;
    expect((await sys.platform('DELETE', '/v1/agents/evt-1')).status).toBe(200);
    const after = await readEvents({ lastEventId: mark, enough: (got) => got.some((e) => e.data.type === 'agent' && e.data.id === 'evt-1' && e.data.state === 'revoked') });
    expect(after.some((e) => e.data.state === 'revoked')).toBe(true);
    await agent!.kill('SIGKILL');
  });
});

describe('GET /v1/jobs', () => {
  it('pages and filters through the indexes (the list is main\'s GET /v1/jobs)', async () => {
    const batch = Array.from({ length: 600 }, (_, i) => ({ task: i % 3 === 0 ? 'deploy' : 'say', agent: `box-${i % 4}`, labels: { zone: i % 2 ? 'a' : 'b' } }));
    const made = (await sys.platform('POST', '/v1/jobs', batch)).json as { id: string }[];
    const page = async (q: string) => {
      const r = await sys.platform('GET', `/v1/jobs?${q}`);
      expect(r.status).toBe(200);
      const total = r.headers.get('x-total-count');
      return { ids: (r.json as { id: string }[]).map((j) => j.id), total: total === null ? undefined : Number(total), next: r.headers.get('x-next-cursor') };
    };
    // Every deploy job in zone b, targeted at box-0, page by page with no overlap and no gap.
    const want = made.filter((_, i) => i % 3 === 0 && i % 2 === 0 && i % 4 === 0).map((j) => j.id);
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const p = await page(`task=deploy&label=zone%3Db&agent=box-0&state=queued&limit=7${cursor ? `&cursor=${cursor}` : ''}`);
      seen.push(...p.ids);
      // Several filters together are not counted (each page examines a bounded stretch).
      expect(p.total).toBeUndefined();
      cursor = p.next;
    } while (cursor);
    expect(seen.sort()).toEqual([...want].sort());
    // One filter is counted.
    expect((await page('label=zone%3Db&limit=1')).total).toBe(300);
    // Several states at once, and a part of an id.
    const some = made[123]!.id;
    const byId = await page(`q=${some.slice(2, 12)}&state=queued,cancelled`);
    expect(byId.ids).toContain(some);
    // A refused filter names its field.
    const bad = await sys.platform('GET', '/v1/jobs?state=sleeping');
    expect(bad.status).toBe(400);
    expect(bad.json.error.issues[0].path).toMatch(/state/);
  });

  it("retries a final job with no body or an empty one (the Jobs page's bulk retry)", async () => {
    const id = (await sys.platform('POST', '/v1/jobs', { task: 'say', agent: 'nobody-retry' })).json.id as string;
    expect((await sys.platform('POST', `/v1/jobs/${id}/cancel`)).json.state).toBe('cancelled');
    const bare = await fetch(`${sys.controllerUrl}/v1/jobs/${id}/retry`, { method: 'POST', headers: { authorization: `Bearer ${PLATFORM_TOKEN}` } });
    expect(bare.status).toBe(201);
    expect(((await bare.json()) as { retryOf: string }).retryOf).toBe(id);
    const empty = await sys.platform('POST', `/v1/jobs/${id}/retry`, {});
    expect(empty.status).toBe(201);
    expect(empty.json.retryOf).toBe(id);
    expect((await sys.platform('GET', `/v1/jobs/${empty.json.id}`)).json.retryOf).toBe(id);
  });

  it('counts jobs by state in the overview', async () => {
    const r = await sys.platform('GET', '/v1/overview?minutes=5');
    expect(r.status).toBe(200);
    expect(r.json.counts.queued).toBeGreaterThanOrEqual(600);
    expect(r.json.minutes).toHaveLength(5);
    expect(r.json.minutes.reduce((n: number, m: { submitted: number }) => n + m.submitted, 0)).toBeGreaterThanOrEqual(600);
  });
});

describe('dashboard sessions', () => {
  it('take the cookie for reads, need the CSRF header for actions, and keep the viewer read-only', async () => {
    const signIn = async (token: string) => {
      const res = await fetch(`${sys.controllerUrl}/auth/session`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ token }) });
      expect(res.status).toBe(201);
      const cookie = res.headers.get('set-cookie')!;
      expect(cookie).toMatch(/HttpOnly/i);
      expect(cookie).toMatch(/SameSite=Strict/i);
      return { cookie: cookie.split(';')[0]!, csrf: ((await res.json()) as { csrf: string }).csrf };
    };
    const admin = await signIn(PLATFORM_TOKEN);
    const call = (method: string, path: string, headers: Record<string, string>, body?: unknown) =>
      fetch(`${sys.controllerUrl}${path}`, { method, headers: { 'content-type': 'application/json', ...headers }, ...(body ? { body: JSON.stringify(body) } : {}) });
    expect((await call('GET', '/v1/agents', { cookie: admin.cookie })).status).toBe(200);
    const noCsrf = await call('POST', '/v1/jobs', { cookie: admin.cookie }, { task: 'say' });
    expect(noCsrf.status).toBe(403);
    expect(((await noCsrf.json()) as any).error.code).toBe('CSRF_REQUIRED');
    expect((await call('POST', '/v1/jobs', { cookie: admin.cookie, 'x-csrf-token': admin.csrf }, { task: 'say', agent: 'nobody-3' })).status).toBe(201);

    const viewer = await signIn(VIEWER);
    expect((await call('GET', '/v1/jobs', { cookie: viewer.cookie })).status).toBe(200);
    const refused = await call('POST', '/v1/jobs', { cookie: viewer.cookie, 'x-csrf-token': viewer.csrf }, { task: 'say' });
    expect(((await refused.json()) as any).error.code).toBe('READ_ONLY');

    // Signed out, the cookie is worth nothing.
    expect((await call('DELETE', '/auth/session', { cookie: admin.cookie, 'x-csrf-token': admin.csrf })).status).toBe(204);
    expect((await call('GET', '/v1/agents', { cookie: admin.cookie })).status).toBe(401);
    expect((await call('POST', '/auth/session', {}, { token: 'wrong-token-wrong-token' })).status).toBe(401);
  });
});
