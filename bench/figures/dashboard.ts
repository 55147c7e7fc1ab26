// Figure: the dashboard at fleet scale. A controller (from dist/) holding 1,000 agents and 100,000 jobs:
// GET /v1/jobs pages under every filter; first render of each page in Chromium; the time from a job's
// state change (its commit in Redis, the event's stream id) to its row changing on an open Jobs page;
// and the page's JS heap after following a 200 MB log. --quick: 100 agents, 10,000 jobs, a 20 MB log.
// Sizes from the environment (README, "How they are measured"): BENCH_DASHBOARD_AGENTS, _JOBS, _LOG_MIB,
// _CHANGES, _DEADLINE_SEC. Every wait is bounded: a change that never shows is counted as a miss, and
// past the deadline the browser, controller, clients and Redis are stopped and the figure fails.
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { errors, type Page } from 'playwright-core';
import { Pool } from 'undici';
import { z } from 'zod';
import { createKeys } from '../../controller/src/keys.js';
import { agentApiPaths, type ClaimedJob } from '../../src/shared/protocol/agent-api.js';
import { ensureUiBuilt, launchBrowser, newPage, signIn } from '../../test/helpers/browser.js';
import { Teardown, withDeadline, type Deadline } from '../lib/deadline.js';
import type { BenchContext, Figure } from '../lib/figure.js';
import { installProbe, probeTimes, waitShown, watchRows } from '../lib/page-probe.js';
import { platformClient, protoClient } from '../lib/proto-client.js';
import type { Row } from '../lib/report.js';
import { now, percentile, round, summarize } from '../lib/stats.js';
import { PLATFORM_TOKEN, startController, stop, withRedis } from '../lib/system.js';

const TASKS = ['build', 'test', 'deploy', 'lint', 'package'];
const KEY_PREFIX = 'benchdash';
/** The issue's target for a state change to show on an open Jobs page. */
const TARGET_MS = 250;
/** A change not on screen this long after its cancel was answered never will be: a miss, not a slow sample. */
const MISS_AFTER_MS = 5000;
/** One request, navigation or wait for a page's content. */
const STEP_MS = 60_000;
/** Rows on the Jobs page's first page: the jobs whose changes can be watched there. */
const PAGE_ROWS = 50;

const count = (min: number, max: number) => z.coerce.number().int().min(min).max(max).optional();
const knobsSchema = z.object({
  BENCH_DASHBOARD_AGENTS: count(2, 9999),
  BENCH_DASHBOARD_JOBS: count(PAGE_ROWS, 10_000_000),
  BENCH_DASHBOARD_LOG_MIB: count(1, 4096),
  BENCH_DASHBOARD_CHANGES: count(1, PAGE_ROWS),
  BENCH_DASHBOARD_DEADLINE_SEC: count(5, 24 * 3600),
});

/** The figure's sizes: the issue's by default, --quick's smaller ones, each overridden by its env knob. */
export function dashboardScale(quick: boolean, env: NodeJS.ProcessEnv = process.env) {
  const k = knobsSchema.parse(Object.fromEntries(Object.entries(env).filter(([n]) => n.startsWith('BENCH_DASHBOARD_'))));
  return {
    agents: k.BENCH_DASHBOARD_AGENTS ?? (quick ? 100 : 1000),
    jobs: k.BENCH_DASHBOARD_JOBS ?? (quick ? 10_000 : 100_000),
    logMiB: k.BENCH_DASHBOARD_LOG_MIB ?? (quick ? 20 : 200),
    changes: k.BENCH_DASHBOARD_CHANGES ?? (quick ? 10 : 30),
    deadlineSec: k.BENCH_DASHBOARD_DEADLINE_SEC ?? (quick ? 900 : 3600),
  };
}
type Scale = ReturnType<typeof dashboardScale>;

const agentName = (n: number) => `host-${String(n).padStart(4, '0')}`;
const row = (figure: string, unit: string, ours: number | null, target = '-', met: boolean | null = null, note?: string): Row => ({
  bench: 'dashboard',
  figure,
  unit,
  ours,
  anchor: null,
  anchorName: null,
  target,
  met,
  ...(note ? { note } : {}),
});

export const dashboard: Figure = {
  name: 'dashboard',
  async run(ctx) {
    const scale = dashboardScale(ctx.quick);
    ctx.detail('scale', scale);
    await ensureUiBuilt();
    return withRedis(async (redis) => {
      const teardown = new Teardown();
      try {
        return await withDeadline(scale.deadlineSec * 1000, (d) => measure(ctx, scale, redis.url, teardown, d), async () => {
          ctx.log(`deadline of ${scale.deadlineSec} s passed: stopping the browser, clients and controller`);
          await teardown.run();
        });
      } finally {
        const failed = await teardown.run();
        if (failed.length) ctx.log(`teardown: ${failed.join('; ')}`);
      }
    });
  },
};

async function measure(ctx: BenchContext, scale: Scale, redisUrl: string, teardown: Teardown, d: Deadline): Promise<Row[]> {
  const rows: Row[] = [];
  const add = (r: Row) => {
    rows.push(r);
    // Printed as measured: a figure that fails later still shows what it got.
    ctx.log(`${r.figure}: ${r.ours ?? '—'} ${r.unit}${r.note ? ` (${r.note})` : ''}`);
  };
  d.phase = 'starting the controller';
  const ctl = await startController(redisUrl, { HTTPAGENT_KEY_PREFIX: KEY_PREFIX, HTTPAGENT_LOG_CAP_BYTES: String((scale.logMiB + 56) * 1024 * 1024), HTTPAGENT_LONG_POLL_MS: '1000' });
  teardown.add('controller', () => stop(ctl.proc));
  const proto = protoClient(ctl.url, 16);
  teardown.add('agents (protocol client)', () => proto.close());
  const platform = platformClient(ctl.url, 4);
  teardown.add('platform client', () => platform.close());
  const redis = new Redis(redisUrl, { commandTimeout: 30_000, maxRetriesPerRequest: 1, lazyConnect: true });
  teardown.add('redis reader', async () => redis.disconnect());
  await redis.connect();

  d.phase = `registering ${scale.agents} agents and queueing ${scale.jobs} jobs`;
  ctx.log(d.phase);
  for (let i = 0; i < scale.agents; i += 50) await Promise.all(Array.from({ length: Math.min(50, scale.agents - i) }, (_, k) => proto.register(agentName(i + k), 4)));
  for (let i = 0; i < scale.jobs; i += 10_000) {
    // Targeted at agents that never claim: every job stays where it is put.
    const batch = Array.from({ length: Math.min(10_000, scale.jobs - i) }, (_, k) => {
      const n = i + k;
      return { task: TASKS[n % TASKS.length], agent: agentName(n % scale.agents), labels: { team: `t${n % 7}` } };
    });
    await platform.submit(batch);
  }

  d.phase = 'paging GET /v1/jobs';
  await listPages(ctx, ctl.url, scale, d, add);

  d.phase = 'starting Chromium';
  const browser = await launchBrowser();
  teardown.add('browser', () => browser.close());
  const { context, page } = await newPage(browser);
  // No Playwright call waits longer than a step, whatever its own default.
  context.setDefaultTimeout(STEP_MS);
  await installProbe(context);
  await signIn(page, ctl.url, PLATFORM_TOKEN);

  d.phase = 'first render of each page';
  await firstRenders(ctx, page, ctl.url, d, add);

  d.phase = 'commit to screen on the Jobs page';
  await commitToScreen(ctx, page, ctl.url, redis, scale, d, add);

  d.phase = `following a ${scale.logMiB} MiB log`;
  await followBigLog(ctx, page, ctl.url, proto, platform, scale, d, add);
  return rows;
}

/** GET /v1/jobs: the first page and four more by cursor under each filter, through the controller's indexes. */
async function listPages(ctx: BenchContext, url: string, scale: Scale, d: Deadline, add: (r: Row) => void): Promise<void> {
  const pool = new Pool(url, { connections: 1 });
  try {
    const get = async (q: string) => {
      const t0 = now();
      const r = await pool.request({ path: `/v1/jobs?${q}`, method: 'GET', headers: { authorization: `Bearer ${PLATFORM_TOKEN}` }, headersTimeout: d.left(STEP_MS), bodyTimeout: STEP_MS });
      await r.body.dump();
      if (r.statusCode !== 200) throw new Error(`GET /v1/jobs?${q}: ${r.statusCode}`);
      return { ms: now() - t0, next: r.headers['x-next-cursor'] as string | undefined };
    };
    const queries = ['limit=50', 'state=queued&limit=50', 'task=deploy&limit=50', 'label=team%3Dt3&limit=50', 'agent=host-0007&limit=50', 'state=queued&task=test&label=team%3Dt1&limit=50', 'q=abc&limit=50'];
    const times: number[] = [];
    const perQuery: Record<string, number> = {};
    for (const q of queries) {
      let worst = 0;
      for (let rep = 0; rep < 5; rep++) {
        // First page, then four pages on by cursor: a later page costs the same as the first.
        let cursor: string | undefined;
        for (let p = 0; p < 5; p++) {
          const r = await get(cursor ? `${q}&cursor=${cursor}` : q);
          if (rep > 0) times.push(r.ms);
          worst = Math.max(worst, r.ms);
          cursor = r.next;
          if (!cursor) break;
        }
      }
      perQuery[q] = round(worst);
    }
    ctx.detail('listWorstMsByQuery', perQuery);
    const list = summarize(times);
    add(row(`GET /v1/jobs page, ${scale.jobs.toLocaleString('en-US')} jobs (p99)`, 'ms', round(list.p99), '≤ 50 ms', list.p99 <= 50));
  } finally {
    await pool.close();
  }
}

/**
 * First render of each page: from the navigation's start to the page's content on screen. A page that
 * does not render within a step is reported so, with the requests that were still open or slow.
 */
async function firstRenders(ctx: BenchContext, page: Page, url: string, d: Deadline, add: (r: Row) => void): Promise<void> {
  const someJob = ((await (await fetch(`${url}/v1/jobs?limit=1`, { headers: { authorization: `Bearer ${PLATFORM_TOKEN}` }, signal: AbortSignal.timeout(d.left(STEP_MS)) })).json()) as { id: string }[])[0]!.id;
  const pages: [string, string, string][] = [
    ['Overview', '#/', 'section.card'],
    ['Fleet', '#/fleet', 'tr[data-agent-id="host-0000"]'],
    ['Host', '#/fleet/host-0001', '[data-testid="sample-count"]'],
    ['Jobs', '#/jobs', 'tbody tr[data-job-id]'],
    ['Job', `#/jobs/${someJob}`, '.log-scroll'],
  ];
  // Requests of the navigation being timed, to say what a slow page waited for.
  const open = new Map<unknown, { url: string; at: number }>();
  const slow: string[] = [];
  const t = () => now();
  page.on('request', (r) => open.set(r, { url: r.url(), at: t() }));
  const done = (r: unknown) => {
    const o = open.get(r);
    open.delete(r);
    if (o && t() - o.at > 1000) slow.push(`${o.url.replace(url, '')} ${Math.round(t() - o.at)} ms`);
  };
  page.on('requestfinished', done);
  page.on('requestfailed', done);
  const renders: Record<string, unknown> = {};
  for (const [name, hash, ready] of pages) {
    await page.goto('about:blank', { timeout: d.left(STEP_MS) });
    open.clear();
    slow.length = 0;
    const t0 = now();
    let loaded = NaN;
    try {
      await page.goto(`${url}/${hash}`, { timeout: d.left(STEP_MS) });
      loaded = now() - t0;
      await page.locator(ready).first().waitFor({ timeout: d.left(STEP_MS) });
      const ms = now() - t0;
      renders[name] = { ms: round(ms, 0), loadEventMs: round(loaded, 0), slowRequests: [...slow] };
      add(row(`first render: ${name}`, 'ms', round(ms, 0), '-', null, slow.length ? `slow: ${slow.join(', ')}` : undefined));
    } catch (err) {
      const pending = [...open.values()].map((o) => `${o.url.replace(url, '')} open ${Math.round(t() - o.at)} ms`);
      renders[name] = { failed: (err as Error).message.split('\n')[0], loadEventMs: round(loaded, 0), slowRequests: [...slow], pending };
      add(row(`first render: ${name}`, 'ms', null, '-', false, `no content within ${STEP_MS / 1000} s; ${[...slow, ...pending].join(', ') || 'no request was slow'}`));
    }
  }
  page.removeAllListeners('request');
  page.removeAllListeners('requestfinished');
  page.removeAllListeners('requestfailed');
  ctx.detail('firstRender', renders);
}

/**
 * Commit to screen: cancel jobs listed on an open Jobs page, one at a time; each sample runs from the
 * cancel's commit in Redis (its event's stream id) to the first frame showing the row as cancelled. The
 * probe also times the event's arrival at the page, which tells a slow (or lost) stream from a slow page.
 */
async function commitToScreen(ctx: BenchContext, page: Page, url: string, redis: Redis, scale: Scale, d: Deadline, add: (r: Row) => void): Promise<void> {
  await page.goto('about:blank', { timeout: d.left(STEP_MS) });
  await page.goto(`${url}/#/jobs`, { timeout: d.left(STEP_MS) });
  await page.locator('tbody tr[data-job-id]').first().waitFor({ timeout: d.left(STEP_MS) });
  // The event stream is open: what commits from here on is announced to this page.
  await page.getByTestId('live').filter({ hasText: /^live$/ }).waitFor({ timeout: d.left(STEP_MS) });
  const listed = await page.locator('tbody tr[data-job-id][data-state="queued"]').evaluateAll((rs) => rs.map((r) => r.getAttribute('data-job-id')!));
  const ids = listed.slice(0, scale.changes);
  await d.bound('watching the rows', watchRows(page, ids), STEP_MS);
  const eventsKey = createKeys(KEY_PREFIX).events;
  const shown: number[] = [];
  const streamMs: number[] = [];
  const misses: Record<string, unknown>[] = [];
  for (const id of ids) {
    const before = await lastEventId(redis, eventsKey);
    const res = await fetch(`${url}/v1/jobs/${id}/cancel`, { method: 'POST', headers: { authorization: `Bearer ${PLATFORM_TOKEN}` }, signal: AbortSignal.timeout(d.left(STEP_MS)) });
    const answer = (await res.json()) as { state?: string };
    if (res.status !== 200 || answer.state !== 'cancelled') throw new Error(`cancel ${id}: ${res.status} ${JSON.stringify(answer)}`);
    let missed = false;
    try {
      await waitShown(page, id, 'cancelled', d.left(MISS_AFTER_MS));
    } catch (err) {
      if (!(err instanceof errors.TimeoutError)) throw err;
      missed = true;
    }
    const committedAt = await commitTime(redis, eventsKey, before, id, 'cancelled');
    const p = await d.bound('reading the page probe', probeTimes(page), STEP_MS);
    const key = `${id} cancelled`;
    if (missed || committedAt === undefined) {
      // Why: did the event reach the page, is the row still there, and what does it show?
      const rowState = await d.bound('reading the row', page.locator(`tr[data-job-id="${id}"]`).evaluateAll((rs) => rs.map((r) => r.getAttribute('data-state'))), STEP_MS);
      const miss = { id, committed: committedAt !== undefined, eventAtPage: p.sse[key] !== undefined, rowStates: rowState, streamOpens: p.opens, streamErrors: p.errors, resets: p.resets };
      misses.push(miss);
      ctx.log(`miss: ${JSON.stringify(miss)}`);
      continue;
    }
    shown.push(p.frame[key]! - committedAt);
    if (p.sse[key] !== undefined) streamMs.push(p.sse[key]! - committedAt);
  }
  const s = [...shown].sort((a, b) => a - b);
  const p50 = percentile(s, 50);
  const p95 = percentile(s, 95);
  const max = s[s.length - 1] ?? NaN;
  ctx.detail('commitToScreen', { samples: ids.length, shownMs: s.map((x) => round(x, 0)), streamMs: summarize(streamMs), misses });
  const target = `≤ ${TARGET_MS} ms`;
  add(row('job state commit → row on open Jobs page (p50)', 'ms', round(p50, 0), target, s.length ? p50 <= TARGET_MS : false));
  add(row('job state commit → row on open Jobs page (p95)', 'ms', round(p95, 0), target, s.length ? p95 <= TARGET_MS : false));
  add(row('job state commit → row on open Jobs page (max)', 'ms', round(max, 0), target, s.length ? max <= TARGET_MS : false));
  add(row(`job state changes never shown (of ${ids.length}, waited ${MISS_AFTER_MS / 1000} s each)`, 'misses', misses.length, '0', misses.length === 0));
  add(row('job state commit → event at the page (p50)', 'ms', round(percentile([...streamMs].sort((a, b) => a - b), 50), 0)));
}

async function lastEventId(redis: Redis, key: string): Promise<string> {
  return ((await redis.xrevrange(key, '+', '-', 'COUNT', 1)) as [string, string[]][])[0]?.[0] ?? '0-0';
}

/**
 * When the job's change to `state` committed: the ms part of its event's stream id (the Redis clock), the
 * event looked for after `after` (agents falling silent meanwhile add events of their own).
 */
async function commitTime(redis: Redis, key: string, after: string, id: string, state: string): Promise<number | undefined> {
  const entries = (await redis.xrange(key, `(${after}`, '+', 'COUNT', 10_000)) as [string, string[]][];
  for (const [sid, fields] of entries) {
    const e = JSON.parse(fields[fields.indexOf('e') + 1] ?? '{}') as { type?: string; id?: string; state?: string };
    if (e.type === 'job' && e.id === id && e.state === state) return Number(sid.split('-')[0]);
  }
  return undefined;
}

/** A big log followed to its end: the agent side writes it through the agent API while the page follows. */
async function followBigLog(
  ctx: BenchContext,
  page: Page,
  url: string,
  proto: ReturnType<typeof protoClient>,
  platform: ReturnType<typeof platformClient>,
  scale: Scale,
  d: Deadline,
  add: (r: Row) => void,
): Promise<void> {
  ctx.log(`writing a ${scale.logMiB} MiB log`);
  const logJob = ((await platform.submit({ task: 'big', agent: 'log-writer' })) as { id: string }).id;
  await proto.register('log-writer', 1, 600_000);
  const [claimed] = await proto.claim('log-writer', 1, 5000);
  if (!claimed || claimed.id !== logJob) throw new Error('the log writer did not get its job');
  await page.goto(`${url}/#/jobs/${logJob}`, { timeout: d.left(STEP_MS) });
  await page.locator('.log-scroll').waitFor({ timeout: d.left(STEP_MS) });
  await writeLog(url, claimed, scale.logMiB, proto.credential('log-writer'), d);
  await proto.complete('log-writer', claimed, 0);
  type Doc = { document: { querySelector(s: string): { textContent: string | null; scrollTop: number; scrollHeight: number } | null } };
  // The page reads what is left, then says complete: the whole log went through it.
  await page.waitForFunction(() => /complete/.test((globalThis as unknown as Doc).document.querySelector('[data-testid="log-status"]')?.textContent ?? ''), undefined, { timeout: d.left(600_000), polling: 200 });
  const cdp = await page.context().newCDPSession(page);
  await d.bound('enabling metrics', cdp.send('Performance.enable'), STEP_MS);
  await d.bound('collecting garbage', cdp.send('HeapProfiler.collectGarbage'), STEP_MS);
  const { metrics } = (await d.bound('reading metrics', cdp.send('Performance.getMetrics'), STEP_MS)) as { metrics: { name: string; value: number }[] };
  const heap = (metrics.find((m) => m.name === 'JSHeapUsedSize')?.value ?? NaN) / 2 ** 20;
  // The log's pages are Uint8Arrays, whose bytes live outside the JS heap: counted here with the DOM's.
  const usage = await d.bound('reading heap usage', cdp.send('Runtime.getHeapUsage'), STEP_MS);
  const all = (usage.usedSize + usage.embedderHeapUsedSize + usage.backingStorageSize) / 2 ** 20;
  const lines = await page.getByTestId('log-status').textContent({ timeout: d.left(STEP_MS) });
  ctx.detail('bigLog', { status: lines, jsHeapTotalMiB: round((metrics.find((m) => m.name === 'JSHeapTotalSize')?.value ?? NaN) / 2 ** 20, 1), heapUsage: usage });
  const t0 = now();
  const toMiddle = page.evaluate(() => {
    const el = (globalThis as unknown as Doc).document.querySelector('.log-scroll')!;
    el.scrollTop = el.scrollHeight / 2;
  });
  await d.bound('scrolling the log', toMiddle, STEP_MS);
  // A line whose page was dropped shows '…' until it is fetched again.
  await page.waitForFunction(() => !(globalThis as unknown as Doc).document.querySelector('.log-lines')?.textContent?.includes('…'), undefined, { timeout: d.left(STEP_MS) });
  const jump = now() - t0;
  add(row(`JS heap after following a ${scale.logMiB} MB log`, 'MiB', round(heap, 1), '≤ 100 MiB', heap <= 100));
  add(row(`JS heap, DOM and array buffers after following a ${scale.logMiB} MB log`, 'MiB', round(all, 1), '≤ 100 MiB', all <= 100));
  add(row(`jump to the middle of the ${scale.logMiB} MB log, lines shown`, 'ms', round(jump, 0)));
}

/** Appends `mib` MiB of numbered, partly coloured lines to a claimed job's log, 1 MiB a call, as its agent. */
async function writeLog(url: string, job: ClaimedJob, mib: number, credential: string, d: Deadline): Promise<void> {
  const pool = new Pool(url, { connections: 1 });
  try {
    let offset = job.logOffset;
    let n = 0;
    for (let i = 0; i < mib; i++) {
      let chunk = '';
      while (chunk.length < 1024 * 1024 - 120) chunk += `${++n} \x1b[32mok\x1b[0m step output line with some text to make it look like a build ${randomUUID()}\n`;
      const body = Buffer.from(chunk);
      const r = await pool.request({
        path: `${agentApiPaths.log(job.id)}?epoch=${job.epoch}&offset=${offset}`,
        method: 'POST',
        headers: { authorization: `Bearer ${credential}`, 'content-type': 'application/octet-stream' },
        body,
        headersTimeout: d.left(STEP_MS),
        bodyTimeout: STEP_MS,
      });
      await r.body.dump();
      if (r.statusCode !== 200) throw new Error(`log append answered ${r.statusCode}`);
      offset += body.length;
    }
  } finally {
    await pool.close();
  }
}
